using Akka.Actor;
using Akka.Persistence;
using Akka.TestKit;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>Persistent actors on the Redis journal and snapshot store: recovery, deletes, batches, rejections, restarts.</summary>
public sealed class PersistentActorRecoverySpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly RedisServer _redis;
    private readonly string _pid = PersistenceHocon.NewPid("counter");
    private readonly TestProbe _reporter;

    public PersistentActorRecoverySpecs(RedisFixture fixture, ITestOutputHelper output)
        : base(PersistenceHocon.For(fixture.Redis, "actor-spec"), "actor-spec", output)
    {
        _redis = fixture.Redis;
        _reporter = CreateTestProbe();
    }

    [Fact]
    public async Task Recovers_from_the_latest_snapshot_and_later_events_after_an_actor_system_restart()
    {
        var first = Sys.ActorOf(CounterActor.Props(_pid, _reporter.Ref));
        for (var i = 1; i <= 5; i++) await AddAsync(first, i);
        first.Tell(CounterActor.TakeSnapshot.Instance);
        await _reporter.ExpectMsgAsync<SaveSnapshotSuccess>(m => m.Metadata.SequenceNr == 5, Timeout);
        for (var i = 6; i <= 8; i++) await AddAsync(first, i);
        await ShutdownAsync(Sys);

        var restarted = ActorSystem.Create("actor-spec-restarted", PersistenceHocon.For(_redis, "actor-spec"));
        try
        {
            var probe = new TestProbe(restarted, new Akka.TestKit.Xunit.XunitAssertions());
            var second = restarted.ActorOf(CounterActor.Props(_pid, probe.Ref));
            var state = await second.Ask<CounterActor.State>(CounterActor.GetState.Instance, Timeout);
            Assert.Equal(new CounterActor.State(Total: 36, LastSequenceNr: 8, RecoveredSnapshotAt: 5, ReplayedEvents: 3), state);

            second.Tell(new CounterActor.Add(100), probe.Ref);
            await probe.ExpectMsgAsync<CounterActor.Persisted>(m => m.SequenceNr == 9, Timeout);
        }
        finally
        {
            await restarted.Terminate();
        }
    }

    [Fact]
    public void Recovery_goes_straight_to_the_actor_without_akkas_replay_filter()
    {
        // The journal keeps one event per sequence number and replays in order, so the filter (an extra actor and hop
        // per recovery) could never find an interleaved old writer; the plugin turns it off by default.
        var journalId = Sys.Settings.Config.GetString("akka.persistence.journal.plugin");
        Assert.Equal("akka.persistence.journal.redis", journalId);
        Assert.Equal("off", Sys.Settings.Config.GetConfig(journalId).GetString("replay-filter.mode"));
    }

    [Fact]
    public async Task Recovers_from_a_snapshot_after_the_events_it_covers_were_deleted()
    {
        var counter = Sys.ActorOf(CounterActor.Props(_pid, _reporter.Ref));
        for (var i = 1; i <= 5; i++) await AddAsync(counter, i);
        counter.Tell(CounterActor.TakeSnapshot.Instance);
        await _reporter.ExpectMsgAsync<SaveSnapshotSuccess>(_ => true, Timeout);
        counter.Tell(new CounterActor.DeleteEventsTo(5));
        await _reporter.ExpectMsgAsync<DeleteMessagesSuccess>(m => m.ToSequenceNr == 5, Timeout);
        await AddAsync(counter, 6);

        var recovered = await RestartAsync(counter);
        var state = await recovered.Ask<CounterActor.State>(CounterActor.GetState.Instance, Timeout);
        Assert.Equal(new CounterActor.State(21, 6, 5, 1), state);
    }

    [Fact]
    public async Task Continues_after_the_highest_sequence_number_when_all_events_were_deleted()
    {
        var counter = Sys.ActorOf(CounterActor.Props(_pid, _reporter.Ref));
        for (var i = 1; i <= 3; i++) await AddAsync(counter, i);
        counter.Tell(new CounterActor.DeleteEventsTo(long.MaxValue));
        await _reporter.ExpectMsgAsync<DeleteMessagesSuccess>(_ => true, Timeout);

        var recovered = await RestartAsync(counter);
        var state = await recovered.Ask<CounterActor.State>(CounterActor.GetState.Instance, Timeout);
        Assert.Equal(new CounterActor.State(0, 3, null, 0), state);

        recovered.Tell(new CounterActor.Add(7));
        await ExpectMsgAsync<CounterActor.Persisted>(m => m.SequenceNr == 4, Timeout);
    }

    [Fact]
    public async Task Persists_a_PersistAll_batch_and_recovers_all_of_it()
    {
        var counter = Sys.ActorOf(CounterActor.Props(_pid, _reporter.Ref));
        counter.Tell(new CounterActor.AddMany([1, 2, 3, 4]));
        for (var seq = 1; seq <= 4; seq++) await ExpectMsgAsync<CounterActor.Persisted>(m => m.SequenceNr == seq, Timeout);

        var recovered = await RestartAsync(counter);
        var state = await recovered.Ask<CounterActor.State>(CounterActor.GetState.Instance, Timeout);
        Assert.Equal(new CounterActor.State(10, 4, null, 4), state);
    }

    [Fact]
    public async Task Tells_the_actor_about_a_rejected_event_and_keeps_persisting_the_next_ones()
    {
        var counter = Sys.ActorOf(CounterActor.Props(_pid, _reporter.Ref));
        await AddAsync(counter, 1);
        counter.Tell(new CounterActor.PersistRaw(new Unserializable("secret")));
        var rejected = await _reporter.ExpectMsgAsync<CounterActor.Rejected>(_ => true, Timeout);
        Assert.Equal(2, rejected.SequenceNr);
        Assert.Contains("deliberately not serializable", rejected.Cause);

        await AddAsync(counter, 2);
        var recovered = await RestartAsync(counter);
        var state = await recovered.Ask<CounterActor.State>(CounterActor.GetState.Instance, Timeout);
        Assert.Equal(3, state.Total);
        Assert.Equal(2, state.ReplayedEvents);
    }

    private async Task AddAsync(IActorRef counter, int amount)
    {
        counter.Tell(new CounterActor.Add(amount));
        await ExpectMsgAsync<CounterActor.Persisted>(Timeout);
    }

    private async Task<IActorRef> RestartAsync(IActorRef counter)
    {
        await WatchAsync(counter);
        counter.Tell(PoisonPill.Instance);
        await ExpectTerminatedAsync(counter, Timeout);
        return Sys.ActorOf(CounterActor.Props(_pid, _reporter.Ref));
    }
}
