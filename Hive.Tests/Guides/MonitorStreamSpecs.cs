using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Hive.Actors.Admission;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Actors.Entities;
using Hive.Actors.Guides;
using Hive.Actors.Hosting;
using Hive.Actors.Processes;
using Hive.Tests.Entities;
using Hive.Tests.Infrastructure;
using Hive.Tests.Processes;
using StackExchange.Redis;
using Xunit;
using static Hive.Actors.Entities.TaskEntityCommands;
using static Hive.Actors.Entities.TaskEntityReplies;

namespace Hive.Tests.Guides;

/// <summary>
/// The monitor as the task stream's sink, with one guide: test probes play the streams (Sink.ActorRefWithAck's side of
/// the handshake) and the task entities (a claim reaching them is a dispatched delivery). Parking replaces the stream;
/// the replaced one may still hold deliveries it had buffered and complete late.
/// </summary>
public sealed class MonitorStreamSpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);
    private readonly IConnectionMultiplexer _redis;
    private readonly TestProbe _entities;
    private readonly string _node = $"monitor-spec-{Guid.NewGuid():N}";
    private IActorRef _monitor = ActorRefs.Nobody;
    private readonly RecordingBus _bus = new();
    private ScriptCatalog _catalog = null!;
    private readonly List<(string TaskId, string Settled)> _settled = new();

    public MonitorStreamSpecs(RedisFixture fixture, ITestOutputHelper output) : base(Hocon, "monitor-stream-spec", output)
    {
        _redis = ConnectionMultiplexer.Connect(fixture.Redis.ConnectionString);
        _entities = CreateTestProbe();
    }

    /// <summary>The monitor under test, with <paramref name="guides"/> guides.</summary>
    private void StartMonitor(int guides, bool faultInjection = false, string? tasksDir = null, string parkAfter = "2s", string leaseRenewInterval = "30s",
        string slotRetry = "1s", int admissionLimit = 100)
    {
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString($$"""
                hive.node.guides = {{guides}}
                hive.node.name = {{_node}}
                hive.node.idle-trim-after = 0s
                hive.node.park-after = {{parkAfter}}
                hive.tasks.lease-renew-interval = {{leaseRenewInterval}}
                hive.tasks.cluster-slot-retry = {{slotRetry}}
                hive.node.allow-fault-injection = {{(faultInjection ? "on" : "off")}}
                # The gate samples once at start (open at 100 %) and then not for the test's length: the tests close
                # and open it themselves by sending the monitor its verdicts.
                hive.node.admission { max-cpu-percent = {{admissionLimit}}, max-memory-percent = {{admissionLimit}}, interval = 1h }
                """)
            .WithFallback(HiveSettings.DefaultConfig));
        var services = new HiveServices(settings, _bus, new RecordingCallbacks(), _redis, new OpenTaskIndex(_redis));
        _catalog = new ScriptCatalog(ScriptCatalogSettings.Create(tasksDir ?? RepoPaths.Tasks));
        _monitor = Sys.ActorOf(MonitorActor.Props(services, _catalog, _entities.Ref,
            CreateTestProbe().Ref), "monitor");
    }

    private static Config Hocon => ConfigurationFactory.ParseString("""
        akka.loglevel = INFO
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        """);

    protected override void AfterAll()
    {
        base.AfterAll();
        _redis.Dispose();
    }

    private TaskDelivery Delivery(string taskId) => new(EntitySamples.Spec(taskId), DateTimeOffset.UtcNow,
        () => Settle(taskId, "ack"), requeue => Settle(taskId, requeue ? "requeue" : "drop"));

    private Task Settle(string taskId, string how)
    {
        lock (_settled) _settled.Add((taskId, how));
        return Task.CompletedTask;
    }

    private (string TaskId, string Settled)[] Settled()
    {
        lock (_settled) return [.. _settled];
    }

    /// <summary>A one-guide monitor whose stream has delivered <paramref name="taskId"/>; the guide's claim is in flight.</summary>
    private (TestProbe Stream, IActorRef Claimant) StartClaiming(string taskId)
    {
        StartMonitor(guides: 1);
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery(taskId));
        return (stream, ExpectClaim(taskId));
    }

    /// <summary>A one-guide monitor over <paramref name="tasks"/> whose guide was granted the task <paramref name="script"/> (of that script, no timeout): it starts it.</summary>
    private TestProbe StartGranted(TempTasks tasks, string script, bool faultInjection = false, string leaseRenewInterval = "30s")
    {
        StartMonitor(guides: 1, faultInjection: faultInjection, tasksDir: tasks.Tasks, leaseRenewInterval: leaseRenewInterval);
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        var spec = EntitySamples.Spec(script) with { Script = script, TimeoutSeconds = null };
        stream.Send(_monitor, new TaskDelivery(spec, DateTimeOffset.UtcNow, () => Task.CompletedTask, _ => Task.CompletedTask));
        ExpectClaim(script);
        _entities.LastSender.Tell(new ClaimGranted(script, 1, 1));
        return stream;
    }

    /// <summary>The guide's claim for <paramref name="taskId"/> reached the entities: the delivery was dispatched.</summary>
    private IActorRef ExpectClaim(string taskId)
    {
        var claim = _entities.ExpectMsg<Claim>(TimeSpan.FromSeconds(5));
        Assert.Equal(taskId, claim.TaskId);
        return _entities.LastSender;
    }

    /// <summary>The gate's one sample at start has reached the monitor (its heartbeat reports the memory figure), so it cannot undo a verdict the test sends.</summary>
    private void AwaitGateSampled() => AwaitAssert(() =>
    {
        var node = _redis.GetDatabase().HashGet(RedisKeys.Node(_node), NodeHashFields.Node);
        Assert.False(node.IsNull);
        Assert.NotEqual(JsonValueKind.Null, JsonDocument.Parse(node.ToString()).RootElement.GetProperty("memoryPercent").ValueKind);
    }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));

    [Fact]
    public void A_parked_stream_that_completes_after_its_replacement_started_does_not_take_the_replacements_demand_away()
    {
        var (parked, claimant) = StartClaiming("running");
        var replacement = CreateTestProbe();
        parked.ExpectNoMsg(Quiet); // the only guide is busy: no demand

        // Parked, then a new stream once a guide is free; the old one completes only after the new one introduced itself.
        replacement.Send(_monitor, StreamInit.Instance);
        parked.ExpectMsg<StreamAck>(); // demand to hand over what it still buffers
        replacement.ExpectNoMsg(Quiet);
        parked.Send(_monitor, Delivery("buffered"));
        parked.ExpectMsg<StreamAck>();
        AwaitAssert(() => Assert.Contains(("buffered", "requeue"), Settled()));
        parked.Send(_monitor, StreamCompleted.Instance);
        _entities.ExpectNoMsg(Quiet); // the buffered delivery went back to the queue, not to a guide

        // The guide frees up: the replacement gets the demand, and its delivery runs.
        claimant.Tell(new ClaimRefused("running", "already ended succeeded", false));
        replacement.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5));
        replacement.Send(_monitor, Delivery("next"));
        ExpectClaim("next");
        Assert.DoesNotContain(Settled(), s => s.TaskId == "next");
    }

    [Fact]
    public void A_delivery_held_while_admission_was_closed_from_a_replaced_stream_runs_and_the_current_stream_gets_the_other_free_guide()
    {
        StartMonitor(guides: 2);
        AwaitGateSampled();
        var parked = CreateTestProbe();
        var replacement = CreateTestProbe();
        parked.Send(_monitor, StreamInit.Instance);
        parked.ExpectMsg<StreamAck>();
        parked.Send(_monitor, Delivery("running"));
        var runningClaimant = ExpectClaim("running");
        parked.ExpectMsg<StreamAck>(); // the second guide is free

        // The gate closes just after that demand was given: the delivery on its way is held, unacknowledged.
        _monitor.Tell(new AdmissionStatus(false, 99, 10, "cpu 99% > 90%"));
        parked.Send(_monitor, Delivery("held"));
        _entities.ExpectNoMsg(Quiet);

        // The stream is replaced meanwhile, and the first task ends: both guides are free, the gate is still closed.
        replacement.Send(_monitor, StreamInit.Instance);
        runningClaimant.Tell(new ClaimRefused("running", "already ended succeeded", false));
        replacement.ExpectNoMsg(Quiet);

        // The gate opens: the held delivery runs on one guide, the replaced stream gets demand to empty itself, and the
        // current stream gets demand for the other guide.
        _monitor.Tell(new AdmissionStatus(true, 10, 10, null));
        ExpectClaim("held");
        parked.ExpectMsg<StreamAck>();
        replacement.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5));
        replacement.Send(_monitor, Delivery("next"));
        ExpectClaim("next");
    }

    [Fact]
    public void A_delivery_from_a_stream_that_never_introduced_itself_runs_when_no_stream_is_current()
    {
        // As after a restart of the monitor: the stream's StreamInit went to the previous incarnation.
        StartMonitor(guides: 1);
        var stream = CreateTestProbe();
        stream.Send(_monitor, Delivery("unannounced"));
        ExpectClaim("unannounced");
        stream.ExpectNoMsg(Quiet); // the only guide is busy: no demand
        Assert.Empty(Settled());
    }

    [Fact]
    public void A_guide_that_crashes_while_claiming_claims_again_as_the_same_owner_and_is_free_again_afterwards()
    {
        StartMonitor(guides: 1, faultInjection: true);
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("claiming"));
        var first = _entities.ExpectMsg<Claim>(TimeSpan.FromSeconds(5));

        // The claim is in flight (the entity has not answered) when the guide throws and is restarted.
        _monitor.Tell(GuideCommands.Crash.Instance);
        var again = _entities.ExpectMsg<Claim>(TimeSpan.FromSeconds(5));
        Assert.Equal(first.Owner, again.Owner);
        Assert.DoesNotContain(Settled(), s => s.TaskId == "claiming"); // not handed back: the first claim may still land

        _entities.LastSender.Tell(new ClaimRefused("claiming", "already ended succeeded", false));
        AwaitAssert(() => Assert.Contains(("claiming", "ack"), Settled()));
        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5)); // the monitor counts the guide free again
    }

    [Fact]
    public void A_fault_in_the_monitor_leaves_its_guides_and_their_running_scripts_alone_and_the_monitor_carries_on()
    {
        using var tasks = new TempTasks();
        tasks.Write("long.sh", "sleep 60");
        var stream = StartGranted(tasks, "long", faultInjection: true);
        var pid = 0;
        AwaitAssert(() =>
        {
            var guide = Assert.Single(_monitor.Ask<GuideStatus[]>(GetGuides.Instance, TimeSpan.FromSeconds(3)).Result);
            Assert.Equal((GuideState.Running, "long"), (guide.State, guide.TaskId));
            pid = guide.Pid!.Value;
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));

        var crash = JsonDocument.Parse("""{"hiveFault": "crash-monitor"}""").RootElement.Clone();
        EventFilter.Exception<InjectedMonitorFault>().ExpectOne(() =>
            _monitor.Tell(new ControlCommand("long", ControlAction.Message, crash, "test")));

        // Restarted, the monitor would have stopped its guide and killed the script; it went on instead.
        var after = Assert.Single(_monitor.Ask<GuideStatus[]>(GetGuides.Instance, TimeSpan.FromSeconds(3)).Result);
        Assert.Equal((GuideState.Running, "long", pid), (after.State, after.TaskId, after.Pid!.Value));
        Assert.Equal(0, Native.Kill(pid, 0));

        _monitor.Tell(new ControlCommand("long", ControlAction.Stop, null, "test"));
        var end = _entities.ExpectMsg<ReportEnd>(TimeSpan.FromSeconds(15));
        Assert.Equal(TaskState.Stopped, end.Result.State);
        _entities.LastSender.Tell(new EndRecorded("long", TaskState.Stopped, false));
        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5)); // the guide is free again and the monitor asks for the next task
    }

    [Fact]
    public void A_guide_renews_its_lease_while_the_script_runs_and_once_it_is_lost_stops_its_copy_without_reporting_an_end()
    {
        using var tasks = new TempTasks();
        tasks.Write("long.sh", "sleep 60");
        var stream = StartGranted(tasks, "long", leaseRenewInterval: "300ms");

        var renew = _entities.ExpectMsg<Renew>(TimeSpan.FromSeconds(5));
        Assert.Equal(("long", 1L, _node), (renew.TaskId, renew.Epoch, renew.Owner.Node));
        _entities.LastSender.Tell(new LeaseHeld("long", 1));
        _entities.ExpectMsg<Renew>(TimeSpan.FromSeconds(5)); // held: the run goes on and is renewed again
        var guide = Assert.Single(_monitor.Ask<GuideStatus[]>(GetGuides.Instance, TimeSpan.FromSeconds(3)).Result);
        Assert.Equal((GuideState.Running, "long"), (guide.State, guide.TaskId));

        _entities.LastSender.Tell(new LeaseLost("long", 1, "claimed again (epoch 2) by node-b"));
        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(10)); // the copy was stopped and the guide is free again
        Assert.Equal(Native.ESRCH, Native.Kill(guide.Pid!.Value, 0));
        // A renewal sent before the verdict arrived may still come; then nothing: no end (it belongs to the claim that
        // replaced this one), and no more renewals.
        var later = _entities.ReceiveWhile<object>(TimeSpan.FromMilliseconds(700), m => m);
        Assert.DoesNotContain(later, m => m is ReportEnd);
        _entities.ExpectNoMsg(TimeSpan.FromMilliseconds(700));
    }

    [Fact]
    public void A_stop_that_reaches_a_guide_recording_an_end_cancels_the_task_so_a_retry_is_not_run()
    {
        using var tasks = new TempTasks();
        tasks.Write("fails.sh", "exit 3");
        StartGranted(tasks, "fails");
        var end = _entities.ExpectMsg<ReportEnd>(TimeSpan.FromSeconds(10));
        Assert.Equal(EndKind.Retryable, end.Kind);

        // The entity has not answered yet: the guide is recording the end when the stop comes.
        _monitor.Tell(new ControlCommand("fails", ControlAction.Stop, null, "ops"));
        var cancel = _entities.ExpectMsg<Cancel>(TimeSpan.FromSeconds(5));
        Assert.Equal(("fails", "ops"), (cancel.TaskId, cancel.By));
    }

    [Fact]
    public void A_claim_the_entity_does_not_answer_in_time_is_asked_again_as_the_same_owner_and_the_delivery_is_not_handed_back()
    {
        var (stream, _) = StartClaiming("slow");
        var first = _entities.LastMessage as Claim;

        // The ask times out (10 s; e.g. the entity's shard is moving): the guide asks again rather than requeueing, since the
        // first claim may still land and would then hold the task for nobody.
        var again = _entities.ExpectMsg<Claim>(TimeSpan.FromSeconds(15));
        Assert.Equal(("slow", first!.Owner), (again.TaskId, again.Owner));
        Assert.Empty(Settled());

        _entities.LastSender.Tell(new ClaimRefused("slow", "already ended succeeded", false));
        AwaitAssert(() => Assert.Contains(("slow", "ack"), Settled()));
        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5));
    }

    /// <summary>A delivery of <paramref name="script"/> as the ingestion makes it: with its manifest's per-node and per-cluster limits.</summary>
    private TaskDelivery Delivery(string taskId, string script) => Delivery(taskId) with
    {
        Spec = EntitySamples.Spec(taskId) with { Script = script },
        PerNodeLimit = _catalog.Resolve(script).Script?.Manifest?.MaxConcurrentPerNode,
        PerClusterLimit = _catalog.Resolve(script).Script?.Manifest?.MaxConcurrentPerCluster,
    };

    /// <summary>tasks/render.sh may run once at a time in the whole cluster (its manifest); tasks/cpu.sh has no limit.</summary>
    private (TempTasks Tasks, string Script) TasksWithAClusterLimitedScript()
    {
        var tasks = new TempTasks();
        var script = $"render{Guid.NewGuid():N}"[..14]; // its own slots key in the shared redis-server
        tasks.Write(script + ".sh", "sleep 60");
        tasks.Write(script + ".json", """{ "maxConcurrentPerCluster": 1 }""");
        tasks.Write("cpu.sh", "sleep 60");
        return (tasks, script);
    }

    /// <summary>A monitor over <paramref name="tasks"/> whose stream is attached, while the one cluster slot of <paramref name="script"/> is held by another node.</summary>
    private async Task<(TestProbe Stream, ClusterSlots Slots)> StartWithTheSlotHeldElsewhere(TempTasks tasks, string script, int guides, string parkAfter,
        string slotRetry)
    {
        var slots = new ClusterSlots(_redis, TimeSpan.FromMinutes(1));
        Assert.True(await slots.TryAcquireAsync(script, "another-node|guide-1|render-0", 1));
        StartMonitor(guides, tasksDir: tasks.Tasks, parkAfter: parkAfter, slotRetry: slotRetry);
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        return (stream, slots);
    }

    [Fact]
    public async Task A_task_whose_script_has_no_free_slot_in_the_cluster_waits_unclaimed_and_runs_once_another_node_frees_the_slot()
    {
        var (tasks, script) = TasksWithAClusterLimitedScript();
        using var _ = tasks;
        var (stream, slots) = await StartWithTheSlotHeldElsewhere(tasks, script, guides: 2, parkAfter: "30s", slotRetry: "300ms");

        stream.Send(_monitor, Delivery("render-1", script));
        stream.ExpectMsg<StreamAck>(); // demand for the second guide
        _entities.ExpectNoMsg(TimeSpan.FromSeconds(1.5)); // asked every 300 ms, never claimed: the slot is held
        Assert.Empty(Settled()); // and neither acknowledged nor handed back: it waits on this node

        stream.Send(_monitor, Delivery("cpu-1", "cpu"));
        var cpu = ExpectClaim("cpu-1"); // other scripts keep flowing meanwhile
        stream.ExpectNoMsg(Quiet); // one guide free, and it is counted for render-1

        await slots.ReleaseAsync(script, "another-node|guide-1|render-0");
        var render = ExpectClaim("render-1");
        Assert.Equal(1, await _redis.SlotsHeldAsync(script)); // held by this node's guide now
        Assert.False(await slots.TryAcquireAsync(script, "another-node|guide-1|render-2", 1));

        render.Tell(new ClaimRefused("render-1", "already ended succeeded", false));
        await AwaitAssertAsync(async () => Assert.Equal(0, await _redis.SlotsHeldAsync(script)), TimeSpan.FromSeconds(5)); // released when done
        Assert.Equal([("render-1", "ack")], Settled().Where(s => s.TaskId == "render-1"));
        cpu.Tell(new ClaimRefused("cpu-1", "already ended succeeded", false));
    }

    [Fact]
    public async Task A_stop_for_a_task_waiting_for_a_cluster_slot_ends_it_stopped_at_once_without_a_slot_or_a_run()
    {
        var (tasks, script) = TasksWithAClusterLimitedScript();
        using var _ = tasks;
        var (stream, slots) = await StartWithTheSlotHeldElsewhere(tasks, script, guides: 1, parkAfter: "30s", slotRetry: "10s");
        stream.Send(_monitor, Delivery("render-1", script));
        _entities.ExpectNoMsg(Quiet); // waits for the slot (next try in 10 s)

        _monitor.Tell(new ControlCommand("render-1", ControlAction.Stop, null, "spec"));
        Assert.Equal("render-1", _entities.ExpectMsg<Cancel>().TaskId);
        var claimant = ExpectClaim("render-1"); // claimed at once, without the slot, only to be ended
        claimant.Tell(new ClaimGranted("render-1", 1, 1));
        var end = _entities.ExpectMsg<ReportEnd>(TimeSpan.FromSeconds(5));
        Assert.Equal((TaskState.Stopped, 0), (end.Result.State, end.Result.Runs));
        Assert.Equal(1, await _redis.SlotsHeldAsync(script)); // still the other node's only
        stream.ExpectNoMsg(Quiet); // the one guide is busy recording the end
    }

    [Fact]
    public async Task A_task_that_waited_park_after_for_a_cluster_slot_goes_to_the_back_of_the_queue()
    {
        var (tasks, script) = TasksWithAClusterLimitedScript();
        using var _ = tasks;
        var (stream, slots) = await StartWithTheSlotHeldElsewhere(tasks, script, guides: 1, parkAfter: "1s", slotRetry: "200ms");

        stream.Send(_monitor, Delivery("render-1", script));
        stream.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // the one guide is counted for the waiting task

        // Its wait counts from the first try, not from each retry: after park-after it is published again and acknowledged.
        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(4));
        AwaitAssert(() => Assert.Contains(("render-1", "ack"), Settled()));
        Assert.Single(_bus.TasksFor("render-1"));
        _entities.ExpectNoMsg(Quiet);
    }

    /// <summary>tasks/gpu.sh may run once at a time per node (its manifest); tasks/cpu.sh has no limit.</summary>
    private static TempTasks TasksWithALimitedScript()
    {
        var tasks = new TempTasks();
        tasks.Write("gpu.sh", "sleep 60");
        tasks.Write("gpu.json", """{ "maxConcurrentPerNode": 1 }""");
        tasks.Write("cpu.sh", "sleep 60");
        return tasks;
    }

    /// <summary>A monitor over <paramref name="tasks"/> whose stream delivered gpu-1: its claim is in flight, the stream has its next demand.</summary>
    private (TestProbe Stream, IActorRef FirstGpu) StartWithGpuRunning(TempTasks tasks, int guides, string parkAfter = "2s", bool awaitGate = false)
    {
        StartMonitor(guides, tasksDir: tasks.Tasks, parkAfter: parkAfter);
        if (awaitGate) AwaitGateSampled();
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("gpu-1", "gpu"));
        var firstGpu = ExpectClaim("gpu-1");
        stream.ExpectMsg<StreamAck>();
        return (stream, firstGpu);
    }

    [Fact]
    public void A_task_over_its_script_s_per_node_limit_waits_for_a_run_of_that_script_while_other_scripts_keep_flowing()
    {
        using var tasks = TasksWithALimitedScript();
        var (stream, firstGpu) = StartWithGpuRunning(tasks, guides: 3);
        stream.Send(_monitor, Delivery("gpu-2", "gpu"));
        _entities.ExpectNoMsg(Quiet); // waits: gpu runs once per node
        stream.ExpectMsg<StreamAck>(); // two guides free, one counted for the waiting task: still room for another script
        stream.Send(_monitor, Delivery("cpu-1", "cpu"));
        var cpu = ExpectClaim("cpu-1");
        stream.ExpectNoMsg(Quiet); // one guide free, and it is counted for gpu-2

        firstGpu.Tell(new ClaimRefused("gpu-1", "already ended succeeded", false));
        ExpectClaim("gpu-2"); // the run of gpu ended: the waiting task runs
        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5)); // and the third guide is free for anything again
        stream.ExpectNoMsg(Quiet); // once: gpu-2's own demand was given when it was deferred
        Assert.DoesNotContain(Settled(), s => s.TaskId == "gpu-2");
        cpu.Tell(new ClaimRefused("cpu-1", "already ended succeeded", false));
    }

    /// <summary>
    /// A two-guide monitor whose admission limits are 90 % and whose last sample says <paramref name="cpuPercent"/>; a task
    /// that expects nothing ("light") was dispatched, so the node is not idle, and the stream has its next demand.
    /// </summary>
    private (TestProbe Stream, IActorRef Light) StartGatedWithALightTaskRunning(double cpuPercent)
    {
        StartMonitor(guides: 2, admissionLimit: 90, parkAfter: "60s");
        AwaitGateSampled();
        _monitor.Tell(new AdmissionStatus(true, cpuPercent, 10, null));
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("light"));
        var light = ExpectClaim("light");
        stream.ExpectMsg<StreamAck>();
        return (stream, light);
    }

    [Fact]
    public void A_task_whose_expected_cores_do_not_fit_under_the_admission_limit_waits_for_a_sample_where_they_do()
    {
        var (stream, light) = StartGatedWithALightTaskRunning(cpuPercent: 20);

        stream.Send(_monitor, Delivery("heavy") with { ExpectedCpu = 0.8 * HostResources.Cpus }); // 80 % of the machine
        _entities.ExpectNoMsg(Quiet); // 20 % + 80 % > 90 %: waits, unacknowledged
        Assert.Empty(Settled());

        _monitor.Tell(new AdmissionStatus(true, 5, 10, null));
        ExpectClaim("heavy"); // 5 % + 80 % fits
        light.Tell(new ClaimRefused("light", "already ended succeeded", false));
    }

    [Fact]
    public void A_node_that_runs_nothing_takes_a_task_whatever_resources_it_expects()
    {
        StartMonitor(guides: 1, admissionLimit: 90);
        AwaitGateSampled();
        _monitor.Tell(new AdmissionStatus(true, 60, 10, null));
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();

        stream.Send(_monitor, Delivery("heavy") with { ExpectedCpu = 2.0 * HostResources.Cpus });
        ExpectClaim("heavy"); // waiting would never make room here
    }

    [Fact]
    public void A_task_waiting_for_its_expected_cores_runs_when_the_node_runs_nothing_any_more_without_waiting_for_a_sample()
    {
        var (stream, light) = StartGatedWithALightTaskRunning(cpuPercent: 60);
        stream.Send(_monitor, Delivery("heavy") with { ExpectedCpu = 2.0 * HostResources.Cpus });
        _entities.ExpectNoMsg(Quiet);

        light.Tell(new ClaimRefused("light", "already ended succeeded", false));
        ExpectClaim("heavy"); // the node is idle now: nothing else would ever make room
    }

    [Fact]
    public void The_heartbeat_advertises_the_catalogue_with_its_content_hashes()
    {
        using var tasks = TasksWithALimitedScript();
        StartMonitor(guides: 1, tasksDir: tasks.Tasks);
        var catalog = new ScriptCatalog(ScriptCatalogSettings.Create(tasks.Tasks));

        AwaitAssert(() =>
        {
            var node = JsonDocument.Parse(_redis.GetDatabase().HashGet(RedisKeys.Node(_node), NodeHashFields.Node).ToString()).RootElement;
            var scripts = node.GetProperty("scripts").EnumerateArray()
                .Select(s => (s.GetProperty("name").GetString(), s.GetProperty("hash").GetString())).ToArray();
            Assert.Equal([("cpu", catalog.Resolve("cpu").Script!.ContentHash), ("gpu", catalog.Resolve("gpu").Script!.ContentHash)], scripts);
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_drain_for_another_node_is_ignored()
    {
        StartMonitor(guides: 1);
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();

        _monitor.Tell(new ControlCommand(_node + "-other", ControlAction.Drain, null, "spec"));
        stream.Send(_monitor, Delivery("after-drain"));

        ExpectClaim("after-drain"); // still taking tasks; a drain of this node would also have stopped the actor system
        Assert.False(Sys.WhenTerminated.IsCompleted);
    }

    [Fact]
    public void A_task_that_waited_park_after_for_its_script_goes_to_the_back_of_the_queue_and_the_stream_gets_its_demand_back()
    {
        using var tasks = TasksWithALimitedScript();
        var (stream, _) = StartWithGpuRunning(tasks, guides: 2, parkAfter: "600ms");
        stream.Send(_monitor, Delivery("gpu-2", "gpu"));
        stream.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // the one free guide is counted for gpu-2

        stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(3));
        AwaitAssert(() => Assert.Contains(("gpu-2", "ack"), Settled())); // published again first, at the back of the queue
        Assert.Single(_bus.TasksFor("gpu-2"));
        _entities.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void A_task_at_its_script_s_limit_that_arrives_while_the_gate_is_closed_still_waits_for_a_run_of_its_script()
    {
        using var tasks = TasksWithALimitedScript();
        var (stream, firstGpu) = StartWithGpuRunning(tasks, guides: 2, awaitGate: true);

        _monitor.Tell(new AdmissionStatus(false, 99, 10, "cpu 99% > 90%"));
        stream.Send(_monitor, Delivery("gpu-2", "gpu"));
        _monitor.Tell(new AdmissionStatus(true, 10, 10, null));
        _entities.ExpectNoMsg(Quiet); // the gate is open and a guide is free, but gpu still runs once

        firstGpu.Tell(new ClaimRefused("gpu-1", "already ended succeeded", false));
        ExpectClaim("gpu-2");
    }

    [Fact]
    public void Draining_hands_waiting_tasks_back_to_the_queue_at_once()
    {
        using var tasks = TasksWithALimitedScript();
        var (stream, firstGpu) = StartWithGpuRunning(tasks, guides: 2);
        stream.Send(_monitor, Delivery("gpu-2", "gpu"));

        _monitor.Tell(Drain.Instance, TestActor);
        AwaitAssert(() => Assert.Contains(("gpu-2", "requeue"), Settled()));
        firstGpu.Tell(new ClaimRefused("gpu-1", "already ended succeeded", false));
        ExpectMsg<Drained>(TimeSpan.FromSeconds(5));
        _entities.ExpectNoMsg(Quiet);
    }

    [Fact]
    public void A_guide_runs_a_script_under_its_manifest_s_memory_and_output_limits()
    {
        using var tasks = new TempTasks();
        tasks.Write("hungry.py", """
            for i in range(500):
                print(f"line {i} " + "x" * 90, flush=True)
            try:
                block = bytearray(256 * 1024 * 1024)
            except MemoryError:
                raise SystemExit(7)
            """);
        tasks.Write("hungry.json", """{ "memoryLimitMb": 64, "maxOutputBytes": 1000 }""");
        StartGranted(tasks, "hungry");

        var end = _entities.ExpectMsg<ReportEnd>(TimeSpan.FromSeconds(20));
        Assert.Equal(7, end.Result.ExitCode); // the 256 MiB allocation failed under the 64 MiB limit
        var last = Assert.Single(end.Result.Lines);
        Assert.StartsWith("line ", last);
        Assert.True(int.Parse(last.Split(' ')[1]) < 100, $"kept output ran to '{last[..10]}' past the 1000-byte limit");
    }

    [Fact]
    public void A_task_whose_claim_is_in_flight_when_the_drain_hands_tasks_back_is_handed_back_once_granted()
    {
        var (_, claimant) = StartClaiming("claiming");

        _monitor.Tell(Drain.Immediately, TestActor); // a downed node: running tasks are handed back at once
        // The hand-back reaches the guide through the monitor, the grant straight from the entity: give the hand-back a head
        // start (nothing is reported meanwhile). Should the grant still win, the script starts and is stopped and handed
        // back: the same end.
        _entities.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        claimant.Tell(new ClaimGranted("claiming", 1, 1));

        // Ignoring the hand-back, the guide ran the script to its end and reported it final.
        var end = _entities.ExpectMsg<ReportEnd>(TimeSpan.FromSeconds(10));
        Assert.Equal(("claiming", EndKind.HandBack, 1L), (end.TaskId, end.Kind, end.Epoch));
    }

    [Fact]
    public void A_delivery_buffered_by_the_stream_when_draining_begins_goes_back_to_the_queue_and_the_stream_can_empty()
    {
        var (stream, claimant) = StartClaiming("running");
        stream.ExpectNoMsg(Quiet);

        _monitor.Tell(Drain.Instance, TestActor);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("buffered-1"));
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("buffered-2"));
        stream.ExpectMsg<StreamAck>();
        AwaitAssert(() =>
        {
            Assert.Contains(("buffered-1", "requeue"), Settled());
            Assert.Contains(("buffered-2", "requeue"), Settled());
        });
        _entities.ExpectNoMsg(Quiet);

        claimant.Tell(new ClaimRefused("running", "already ended succeeded", false));
        ExpectMsg<Drained>(TimeSpan.FromSeconds(5));
    }
}
