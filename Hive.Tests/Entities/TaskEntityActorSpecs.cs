using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Actors.Entities;
using Hive.Actors.Hosting;
using Hive.Actors.Progress;
using Hive.Tests.Infrastructure;
using Hive.Tests.Serialization;
using StackExchange.Redis;
using Xunit;
using static Hive.Actors.Entities.TaskEntityCommands;
using static Hive.Actors.Entities.TaskEntityReplies;
using static Hive.Tests.Entities.EntitySamples;

namespace Hive.Tests.Entities;

/// <summary>
/// One TaskEntityActor at a time, outside sharding, on a cluster-provider system that never joins: in-memory journal,
/// the node's Hive serializer binding, the open-task index in a real redis-server, recording bus and callbacks.
/// </summary>
public sealed class TaskEntityActorSpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryBackoff = TimeSpan.FromMilliseconds(800);
    private readonly IConnectionMultiplexer _redis;
    private readonly RecordingBus _bus = new();
    private readonly RecordingCallbacks _callbacks = new();
    private readonly TestProbe _status;
    private readonly HiveServices _services;

    public TaskEntityActorSpecs(RedisFixture fixture, ITestOutputHelper output) : base(Hocon, "task-entity-spec", output)
    {
        _redis = ConnectionMultiplexer.Connect(fixture.Redis.ConnectionString);
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString($"hive.tasks.retry-backoff = {(int)RetryBackoff.TotalMilliseconds}ms")
            .WithFallback(HiveSettings.DefaultConfig));
        _services = new HiveServices(settings, _bus, _callbacks, _redis, new OpenTaskIndex(_redis));
        _status = CreateTestProbe();
    }

    // serialize-messages stays off here: under verification, Akka.Persistence 1.5.73 hands the Persist handler a copy of the
    // event that went through Newtonsoft.Json (JsonElement args come back Undefined), which never happens with a real journal.
    // Every IHiveMessage's round trip through the Hive serializer is proven by HiveMessageSerializerSpecs instead.
    private static Config Hocon => HiveSerializationHocon.WithVerification("""
        akka.actor.serialize-messages = off
        akka.loglevel = INFO
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    protected override void AfterAll()
    {
        base.AfterAll();
        _redis.Dispose();
    }

    private IActorRef Entity(string taskId, HiveServices? services = null) =>
        Sys.ActorOf(TaskEntityActor.Props(taskId, services ?? _services, _status.Ref));

    private static async Task<T> AskAsync<T>(IActorRef entity, object message) => await entity.Ask<T>(message, Timeout);

    private static Claim ClaimBy(ClaimOwner owner, TaskSpec spec) => new(spec.TaskId, spec, owner, T0);

    private Task<StateReply> StateOf(IActorRef entity, string taskId) => AskAsync<StateReply>(entity, new GetState(taskId));

    private async Task<OpenTaskEntry?> IndexEntry(string taskId)
    {
        var raw = await _redis.GetDatabase().HashGetAsync(OpenTaskIndex.Key, taskId);
        return raw.IsNull ? null : JsonSerializer.Deserialize<OpenTaskEntry>((string)raw!);
    }

    private async Task<ClaimGranted> ClaimedAsync(IActorRef entity, ClaimOwner owner, TaskSpec spec) =>
        await AskAsync<ClaimGranted>(entity, ClaimBy(owner, spec));

    [Fact]
    public async Task A_first_claim_is_granted_as_attempt_1_epoch_1_and_is_in_the_open_task_index_when_acknowledged()
    {
        var spec = Spec(NewTaskId(), acceptUrl: "http://backend.local/accepted");
        var entity = Entity(spec.TaskId);

        var granted = await ClaimedAsync(entity, OwnerA, spec);

        Assert.Equal(new ClaimGranted(spec.TaskId, 1, 1), granted);
        Assert.Equal(new OpenTaskEntry("claimed", OwnerA.MemberUid, 0), await IndexEntry(spec.TaskId));
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Claimed", 1, 1L, "node-a"), (state.Phase, state.Attempt, state.Epoch, state.OwnerNode));
        await AwaitConditionAsync(() => Task.FromResult(_callbacks.PostsTo("http://backend.local/accepted").Count == 1), Timeout);
        Assert.Equal(CallbackBodies.IdempotencyKey(spec.TaskId, 1, "accepted"), _callbacks.PostsTo("http://backend.local/accepted")[0].IdempotencyKey);
    }

    [Fact]
    public async Task A_claim_that_cannot_be_indexed_is_failed_and_never_persisted()
    {
        var dead = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { { "127.0.0.1", FreePort.Next() } },
            AbortOnConnectFail = false,
            ConnectTimeout = 500,
            AsyncTimeout = 1000,
            BacklogPolicy = BacklogPolicy.FailFast,
        });
        try
        {
            var spec = Spec(NewTaskId());
            var entity = Entity(spec.TaskId, _services with { Redis = dead, Index = new OpenTaskIndex(dead) });

            var failure = await Assert.ThrowsAnyAsync<Exception>(() => entity.Ask<ClaimGranted>(ClaimBy(OwnerA, spec), Timeout));
            Assert.IsNotType<AskTimeoutException>(failure);

            var state = await StateOf(entity, spec.TaskId);
            Assert.Equal(("New", 0, 0L), (state.Phase, state.Attempt, state.Epoch));
        }
        finally
        {
            await dead.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_repeated_claim_by_the_same_owner_is_granted_again_and_one_by_another_owner_is_refused_as_a_duplicate()
    {
        var spec = Spec(NewTaskId());
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        Assert.Equal(new ClaimGranted(spec.TaskId, 1, 1), await ClaimedAsync(entity, OwnerA, spec));

        var refused = await AskAsync<ClaimRefused>(entity, ClaimBy(OwnerB, spec));
        Assert.False(refused.Cancelled);
        Assert.Contains("duplicate", refused.Reason);
        Assert.Contains("node-a", refused.Reason);
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Claimed", 1, 1L, "node-a"), (state.Phase, state.Attempt, state.Epoch, state.OwnerNode));
    }

    [Fact]
    public async Task An_end_reported_with_a_stale_epoch_is_refused_and_changes_nothing()
    {
        var spec = Spec(NewTaskId());
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        var refused = await AskAsync<EndRefused>(entity, new ReportEnd(spec.TaskId, 0, Result(spec.TaskId, TaskState.Succeeded, 1), EndKind.Final));

        Assert.Contains("stale", refused.Reason);
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Claimed", 1, 1L), (state.Phase, state.Attempt, state.Epoch));
        Assert.Empty(_bus.ResultsFor(spec.TaskId));
    }

    [Fact]
    public async Task A_backoff_from_the_script_manifest_replaces_the_node_s_retry_backoff()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 3) with { RetryBackoffSeconds = 30 };
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Failed, 1), EndKind.Retryable));

        OpenTaskEntry? retry = null;
        await AwaitConditionAsync(async () => (retry = await IndexEntry(spec.TaskId))?.Phase == "retry", Timeout);
        var dueIn = DateTimeOffset.FromUnixTimeMilliseconds(retry!.DueAtUnixMs) - DateTimeOffset.UtcNow;
        Assert.InRange(dueIn, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(31)); // the node's own backoff is 0.8 s
    }

    [Fact]
    public async Task A_retryable_failure_with_attempts_left_is_requeued_after_the_backoff_and_claimed_again_as_attempt_2_epoch_2()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 3);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        var recorded = await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Failed, 1), EndKind.Retryable));

        Assert.Equal(new EndRecorded(spec.TaskId, TaskState.Failed, true), recorded);
        // The index follows the persisted event without holding up the reply.
        OpenTaskEntry? retry = null;
        await AwaitAssertAsync(async () =>
        {
            retry = await IndexEntry(spec.TaskId);
            Assert.Equal("retry", retry?.Phase);
        }, Timeout);
        Assert.True(retry!.DueAtUnixMs > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1000);
        var early = await AskAsync<ClaimRefused>(entity, ClaimBy(OwnerB, spec));
        Assert.Contains("due at", early.Reason);
        var scheduled = await _status.FishForMessageAsync<StatusUpdate>(u => u.Event == "retry-scheduled", Timeout);
        Assert.Equal(TaskState.Queued, scheduled.Document.State);
        Assert.Empty(_bus.TasksFor(spec.TaskId));

        await AwaitConditionAsync(() => Task.FromResult(_bus.TasksFor(spec.TaskId).Count == 1), Timeout);
        var requeued = _bus.TasksFor(spec.TaskId)[0];
        Assert.Equal((spec.TaskId, spec.Script, spec.MaxAttempts), (requeued.TaskId, requeued.Script, requeued.MaxAttempts));
        Assert.Equal(JsonSerializer.Serialize(spec.Args), JsonSerializer.Serialize(requeued.Args));
        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
        Assert.Equal("Queued", (await StateOf(entity, spec.TaskId)).Phase);

        Assert.Equal(new ClaimGranted(spec.TaskId, 2, 2), await ClaimedAsync(entity, OwnerB, spec));
        Assert.Empty(_bus.ResultsFor(spec.TaskId));
    }

    [Fact]
    public async Task A_failure_on_the_last_attempt_finishes_failed_and_delivers_the_result_once_then_leaves_the_index()
    {
        const string responseUrl = "http://backend.local/done";
        var spec = Spec(NewTaskId(), maxAttempts: 1, responseUrl: responseUrl, replyTo: "backend.replies");
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        var recorded = await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Failed, 1, 1), EndKind.Retryable));

        Assert.Equal(new EndRecorded(spec.TaskId, TaskState.Failed, false), recorded);
        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
        var published = Assert.Single(_bus.Results, r => r.Result.TaskId == spec.TaskId);
        Assert.Equal((TaskState.Failed, 1, "backend.replies", spec.TaskId), (published.Result.State, published.Result.Attempt, published.ReplyTo, published.CorrelationId));
        var post = Assert.Single(_callbacks.PostsTo(responseUrl));
        Assert.Equal(CallbackBodies.IdempotencyKey(spec.TaskId, 1, "finished"), post.IdempotencyKey);
        Assert.Equal((await StateOf(entity, spec.TaskId)).State, TaskState.Failed);

        var again = await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Failed, 1, 1), EndKind.Retryable));
        Assert.False(again.WillRetry);
        entity.Tell(new Wake(spec.TaskId));
        var refused = await AskAsync<ClaimRefused>(entity, ClaimBy(OwnerB, spec));
        Assert.Contains("already ended failed", refused.Reason);
        await Task.Delay(300);
        Assert.Single(_bus.ResultsFor(spec.TaskId));
        Assert.Single(_callbacks.PostsTo(responseUrl));
        Assert.Empty(_bus.TasksFor(spec.TaskId));
    }

    [Fact]
    public async Task A_task_cancelled_before_any_claim_refuses_the_claim_as_cancelled_and_delivers_a_stopped_result()
    {
        const string responseUrl = "http://backend.local/cancelled";
        var spec = Spec(NewTaskId(), responseUrl: responseUrl, replyTo: "backend.replies");
        var entity = Entity(spec.TaskId);

        entity.Tell(new Cancel(spec.TaskId, "backend"));
        var refused = await AskAsync<ClaimRefused>(entity, ClaimBy(OwnerA, spec));

        Assert.True(refused.Cancelled);
        Assert.Contains("backend", refused.Reason);
        await AwaitConditionAsync(() => Task.FromResult(_bus.ResultsFor(spec.TaskId).Count == 1 && _callbacks.PostsTo(responseUrl).Count == 1), Timeout);
        var published = Assert.Single(_bus.Results, r => r.Result.TaskId == spec.TaskId);
        Assert.Equal((TaskState.Stopped, 0, "backend.replies"), (published.Result.State, published.Result.Attempt, published.ReplyTo));
        Assert.Equal(CallbackBodies.IdempotencyKey(spec.TaskId, 0, "finished"), _callbacks.PostsTo(responseUrl)[0].IdempotencyKey);
        using (var body = JsonDocument.Parse(_callbacks.PostsTo(responseUrl)[0].Body))
            Assert.Contains("stopped", body.RootElement.GetRawText());
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Finished", TaskState.Stopped, true), (state.Phase, state.State, state.Cancelled));
        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
    }

    [Fact]
    public async Task A_cancel_while_a_retry_is_scheduled_finishes_the_task_stopped_and_never_requeues_it()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 3);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);
        await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Failed, 1), EndKind.Retryable));

        entity.Tell(new Cancel(spec.TaskId, "ops"));

        await AwaitConditionAsync(() => Task.FromResult(_bus.ResultsFor(spec.TaskId).Count == 1), Timeout);
        var result = _bus.ResultsFor(spec.TaskId)[0];
        Assert.Equal(TaskState.Stopped, result.State);
        Assert.Contains("ops", result.Reason);
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Finished", TaskState.Stopped, true), (state.Phase, state.State, state.Cancelled));
        await Task.Delay(RetryBackoff + TimeSpan.FromMilliseconds(300));
        Assert.Empty(_bus.TasksFor(spec.TaskId));
        Assert.Single(_bus.ResultsFor(spec.TaskId));
    }

    [Fact]
    public async Task A_release_by_the_owners_member_requeues_the_task_spending_the_attempt()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 2);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        entity.Tell(new Release(spec.TaskId, OwnerA.MemberUid, "member removed"));

        await AwaitConditionAsync(() => Task.FromResult(_bus.TasksFor(spec.TaskId).Count == 1), Timeout);
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Queued", 1), (state.Phase, state.Attempt));
        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
        Assert.Equal(new ClaimGranted(spec.TaskId, 2, 2), await ClaimedAsync(entity, OwnerB, spec));
        Assert.Empty(_bus.ResultsFor(spec.TaskId));
    }

    [Fact]
    public async Task A_release_on_the_last_attempt_finishes_the_task_dead()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 1);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        entity.Tell(new Release(spec.TaskId, OwnerA.MemberUid, "member removed"));

        await AwaitConditionAsync(() => Task.FromResult(_bus.ResultsFor(spec.TaskId).Count == 1), Timeout);
        var result = _bus.ResultsFor(spec.TaskId)[0];
        Assert.Equal(TaskState.Dead, result.State);
        Assert.Contains("member removed", result.Reason);
        Assert.Equal("Finished", (await StateOf(entity, spec.TaskId)).Phase);
        Assert.Empty(_bus.TasksFor(spec.TaskId));
    }

    [Fact]
    public async Task A_release_naming_another_member_is_ignored()
    {
        var spec = Spec(NewTaskId());
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        entity.Tell(new Release(spec.TaskId, OwnerB.MemberUid, "member removed"));

        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Claimed", 1, 1L, "node-a"), (state.Phase, state.Attempt, state.Epoch, state.OwnerNode));
        await Task.Delay(300);
        Assert.Empty(_bus.TasksFor(spec.TaskId));
        Assert.Empty(_bus.ResultsFor(spec.TaskId));
        Assert.Equal(new OpenTaskEntry("claimed", OwnerA.MemberUid, 0), await IndexEntry(spec.TaskId));
    }

    [Fact]
    public async Task The_owner_holds_its_lease_until_its_claim_is_released_and_claimed_again_elsewhere_then_it_is_lost()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 2);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);
        Assert.Equal(new LeaseHeld(spec.TaskId, 1), await AskAsync<object>(entity, new Renew(spec.TaskId, OwnerA, 1)));

        // The owner's node was taken for lost while it was frozen: the claim is released and the task requeued.
        entity.Tell(new Release(spec.TaskId, OwnerA.MemberUid, "member removed"));
        var released = Assert.IsType<LeaseLost>(await AskAsync<object>(entity, new Renew(spec.TaskId, OwnerA, 1)));
        Assert.Contains("went back to the queue", released.Reason);

        await ClaimedAsync(entity, OwnerB, spec);
        var superseded = Assert.IsType<LeaseLost>(await AskAsync<object>(entity, new Renew(spec.TaskId, OwnerA, 1)));
        Assert.Equal((spec.TaskId, 1L), (superseded.TaskId, superseded.Epoch));
        Assert.Contains("claimed again (epoch 2) by node-b", superseded.Reason);
        Assert.Equal(new LeaseHeld(spec.TaskId, 2), await AskAsync<object>(entity, new Renew(spec.TaskId, OwnerB, 2)));
    }

    [Fact]
    public async Task An_entity_that_knows_no_claim_does_not_take_a_lease_away_but_one_that_knows_another_owner_s_claim_does()
    {
        var spec = Spec(NewTaskId());
        var entity = Entity(spec.TaskId);
        Assert.Equal(new LeaseHeld(spec.TaskId, 3), await AskAsync<object>(entity, new Renew(spec.TaskId, OwnerA, 3)));

        // Its history lost, the entity granted the task to another node at a lower epoch: proof enough that A's lease is gone.
        await ClaimedAsync(entity, OwnerB, spec);
        var lost = Assert.IsType<LeaseLost>(await AskAsync<object>(entity, new Renew(spec.TaskId, OwnerA, 3)));
        Assert.Contains("by node-b", lost.Reason);
    }

    [Fact]
    public async Task A_handed_back_task_is_requeued_with_its_attempt_refunded()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 1);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        var recorded = await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Stopped, 1, 1), EndKind.HandBack));

        Assert.Equal(new EndRecorded(spec.TaskId, TaskState.Queued, true), recorded);
        await AwaitConditionAsync(() => Task.FromResult(_bus.TasksFor(spec.TaskId).Count == 1), Timeout);
        var state = await StateOf(entity, spec.TaskId);
        Assert.Equal(("Queued", 0), (state.Phase, state.Attempt));
        Assert.Equal(new ClaimGranted(spec.TaskId, 1, 2), await ClaimedAsync(entity, OwnerB, spec));
        Assert.Empty(_bus.ResultsFor(spec.TaskId));
    }

    [Fact]
    public async Task A_result_the_broker_did_not_confirm_is_published_again_until_it_is()
    {
        var spec = Spec(NewTaskId(), maxAttempts: 1);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);
        _bus.FailNextResultPublishes(1);

        await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Succeeded, 1, 1), EndKind.Final));

        await AwaitConditionAsync(() => Task.FromResult(_bus.FailedResultPublishes >= 1), Timeout);
        await AwaitAssertAsync(async () => Assert.Equal("deliver", (await IndexEntry(spec.TaskId))?.Phase), Timeout);
        await AwaitConditionAsync(() => Task.FromResult(_bus.ResultsFor(spec.TaskId).Count == 1), Timeout);
        Assert.Equal(TaskState.Succeeded, _bus.ResultsFor(spec.TaskId)[0].State);
        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
    }

    [Fact]
    public async Task A_result_callback_that_keeps_failing_is_given_up_the_result_is_published_once_and_the_task_counts_as_delivered()
    {
        const string responseUrl = "http://backend.local/gone";
        _callbacks.Refusing[new Uri(responseUrl)] = true;
        var spec = Spec(NewTaskId(), maxAttempts: 1, responseUrl: responseUrl);
        var entity = Entity(spec.TaskId);
        await ClaimedAsync(entity, OwnerA, spec);

        await AskAsync<EndRecorded>(entity, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Succeeded, 1, 1), EndKind.Final));

        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the entity retries a failed delivery after 2 s: none may come
        Assert.Single(_bus.ResultsFor(spec.TaskId));
        Assert.Single(_callbacks.PostsTo(responseUrl));
    }

    [Fact]
    public async Task A_new_incarnation_of_an_entity_stopped_before_its_result_was_delivered_delivers_it()
    {
        const string responseUrl = "http://backend.local/recovered";
        var spec = Spec(NewTaskId(), maxAttempts: 1, responseUrl: responseUrl);
        var first = Entity(spec.TaskId);
        await ClaimedAsync(first, OwnerA, spec);
        _bus.ResultsDown = true;
        await AskAsync<EndRecorded>(first, new ReportEnd(spec.TaskId, 1, Result(spec.TaskId, TaskState.Succeeded, 1, 1), EndKind.Final));
        await AwaitConditionAsync(() => Task.FromResult(_bus.FailedResultPublishes >= 1), Timeout);

        Watch(first);
        first.Tell(PoisonPill.Instance);
        await ExpectTerminatedAsync(first, Timeout);
        Assert.Empty(_bus.ResultsFor(spec.TaskId));
        var owed = await IndexEntry(spec.TaskId);
        Assert.Equal("deliver", owed?.Phase);
        // Its check time: should no member leave, the reaper still wakes the entity then (ReaperDecisionSpecs).
        var checkIn = DateTimeOffset.FromUnixTimeMilliseconds(owed!.DueAtUnixMs) - DateTimeOffset.UtcNow;
        Assert.InRange(checkIn, TaskEntityActor.OwedWorkCheckAfter - TimeSpan.FromSeconds(10), TaskEntityActor.OwedWorkCheckAfter);
        _bus.ResultsDown = false;

        var second = Entity(spec.TaskId);

        await AwaitConditionAsync(() => Task.FromResult(_bus.ResultsFor(spec.TaskId).Count == 1 && _callbacks.PostsTo(responseUrl).Count == 1), Timeout);
        Assert.Equal(TaskState.Succeeded, _bus.ResultsFor(spec.TaskId)[0].State);
        var state = await StateOf(second, spec.TaskId);
        Assert.Equal(("Finished", TaskState.Succeeded, 1, 1L), (state.Phase, state.State, state.Attempt, state.Epoch));
        await AwaitAssertAsync(async () => Assert.Null(await IndexEntry(spec.TaskId)), Timeout);
        await Task.Delay(300);
        Assert.Single(_bus.ResultsFor(spec.TaskId));
    }
    [Fact]
    public async Task An_entity_whose_early_events_a_snapshot_replaced_recovers_from_that_snapshot_and_the_events_after_it()
    {
        var spec = Spec(NewTaskId());
        var first = Entity(spec.TaskId);
        // A hand-back is three events (claimed, requeued, requeue published): 17 of them make 51, a snapshot at 50 and
        // events 1-50 deleted, so recovery must read the snapshot although it does not read snapshots up front.
        for (var epoch = 1; epoch <= 17; epoch++)
        {
            Assert.Equal(new ClaimGranted(spec.TaskId, 1, epoch), await ClaimedAsync(first, OwnerA, spec));
            await AskAsync<EndRecorded>(first, new ReportEnd(spec.TaskId, epoch, Result(spec.TaskId, TaskState.Stopped, 1), EndKind.HandBack));
            var handedBack = epoch;
            await AwaitConditionAsync(() => Task.FromResult(_bus.TasksFor(spec.TaskId).Count == handedBack), Timeout);
        }
        await AwaitAssertAsync(async () => Assert.Equal(51L, await FirstStoredSequenceNr("task-" + spec.TaskId)), Timeout);
        Watch(first);
        first.Tell(PoisonPill.Instance);
        await ExpectTerminatedAsync(first, Timeout);

        var second = Entity(spec.TaskId);

        var state = await StateOf(second, spec.TaskId);
        Assert.Equal(("Queued", 0, 17L), (state.Phase, state.Attempt, state.Epoch));
        Assert.Equal(new ClaimGranted(spec.TaskId, 1, 18), await ClaimedAsync(second, OwnerB, spec));
    }

    /// <summary>The lowest sequence number the journal still replays for <paramref name="persistenceId"/>, 0 when none.</summary>
    private async Task<long> FirstStoredSequenceNr(string persistenceId)
    {
        var probe = CreateTestProbe();
        Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null)
            .Tell(new Akka.Persistence.ReplayMessages(1, long.MaxValue, 1, persistenceId, probe.Ref));
        var first = 0L;
        while (true)
        {
            var message = await probe.ReceiveOneAsync(Timeout);
            if (message is Akka.Persistence.ReplayedMessage replayed && first == 0) first = replayed.Persistent.SequenceNr;
            if (message is Akka.Persistence.RecoverySuccess or Akka.Persistence.ReplayMessagesFailure) return first;
        }
    }
}
