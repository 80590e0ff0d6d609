using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Hive.Actors.Admission;
using Hive.Actors.Contracts;
using Hive.Actors.Entities;
using Hive.Actors.Hosting;
using Hive.Actors.Ingestion;
using Hive.Actors.Messaging;
using Hive.Actors.Processes;

namespace Hive.Actors.Guides;

/// <summary>
/// One per node: owns the guides and supervises them (a guide that throws is restarted; its script is
/// killed and its task reported failed-and-retryable by the new incarnation). It is the task stream's
/// sink: it signals demand only while a guide is free and its admission gate is open (the machine's CPU and memory
/// are below hive.node.admission's limits), so the node never holds more tasks than it can run; running tasks are
/// never touched by admission.
/// A delivery whose script already runs as often as its manifest's <c>maxConcurrentPerNode</c> allows waits here,
/// unacknowledged and counted as a taken guide, until a run of that script ends; after <c>hive.node.park-after</c> it
/// goes back to the queue for another node.
/// Routes control commands to the guide running the task, and publishes the guides to hive:node:&lt;node&gt;
/// (and, with hive.redis.seed-compat, to the seed's hive.watchdog-&lt;ip&gt;).
/// </summary>
public sealed class MonitorActor : ReceiveActor, IWithTimers
{
    private const string IdleTrimTimer = "idle-trim";
    private const string DeferredTimer = "deferred";
    private const string SlotRetryTimer = "slot-retry";
    private const string CatalogTimer = "catalog";

    /// <summary>How often the catalogue (the scripts of tasks/ and their content hashes) is read again for the heartbeat.</summary>
    public static readonly TimeSpan CatalogRefreshInterval = TimeSpan.FromSeconds(30);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HiveServices _services;
    private readonly IActorRef _entities;
    private readonly Dictionary<string, IActorRef> _guides = new();
    private readonly Dictionary<string, GuideStatus> _statuses = new();
    private readonly LinkedList<string> _free = new();
    // The task stream now feeding this monitor (its sink's actor). A stream that was parked and replaced may still send
    // the deliveries it had buffered: they go back to the queue, and its demand never stands in for the current one's.
    private IActorRef? _stream;
    private IActorRef? _pendingAck;
    private bool? _lastCapacity;
    private bool _draining;
    private IActorRef? _drainRequester;
    private string? _seedHostIp;
    private AdmissionStatus _admission = AdmissionStatus.Initial;
    private readonly ResourceFit _fit;
    private readonly Func<TaskDelivery, bool> _fits;
    private (TaskDelivery Delivery, IActorRef Stream)? _held;
    private readonly ScriptConcurrency _limits;
    private readonly ScriptCatalog _catalog;
    // The catalogue as advertised in hive:node:<node>: [{name, hash}], the scripts of tasks/ and their content hashes.
    // Null until the first read: a node that has not read its tasks/ yet does not claim an empty catalogue.
    private object[]? _scripts;
    private bool _readingCatalog;

    public MonitorActor(HiveServices services, ScriptCatalog catalog, IActorRef entities, IActorRef statusWriter)
    {
        _services = services;
        _fit = new ResourceFit(services.Settings.Admission, HostResources.Cpus, HostResources.TotalMemoryMb);
        _fits = delivery => DoesNotFit(delivery) is null;
        _entities = entities;
        _limits = new ScriptConcurrency();
        _catalog = catalog;
        for (var i = 1; i <= services.Settings.Guides; i++)
        {
            var id = $"guide-{i}";
            _guides[id] = Context.ActorOf(GuideActor.Props(id, services, catalog, entities, statusWriter), id);
            _statuses[id] = new GuideStatus(id, GuideState.Idle, null, null, DateTimeOffset.UtcNow);
            _free.AddLast(id);
        }

        Receive<StreamInit>(_ => OnStreamInit(Sender));
        Receive<TaskDelivery>(OnDelivery);
        Receive<StreamCompleted>(_ => OnStreamEnded(Sender, null));
        Receive<Status.Failure>(f => OnStreamEnded(Sender, f.Cause));
        Receive<GuideFree>(free => OnGuideFree(free.GuideId));
        Receive<GuideStatus>(status => _statuses[status.GuideId] = status);
        Receive<AdmissionStatus>(OnAdmission);
        Receive<ControlCommand>(OnControl);
        Receive<GetGuides>(_ => Sender.Tell(_statuses.Values.OrderBy(s => s.GuideId, StringComparer.Ordinal).ToArray()));
        Receive<Drain>(StartDrain);
        Receive<DrainDeadline>(_ => HandBackRunning());
        Receive<Heartbeat>(_ => WriteHeartbeat());
        Receive<ExpireDeferred>(_ => OnExpireDeferred());
        Receive<ClusterSlotsTaken>(OnClusterSlotsTaken);
        Receive<RetryClusterSlots>(_ =>
        {
            DispatchDeferred();
            if (_limits.Waiting == 0) Timers.Cancel(SlotRetryTimer);
        });
        Receive<ReadCatalog>(_ => ReadCatalogAsync());
        Receive<CatalogRead>(OnCatalogRead);
        Receive<TrimIdleMemory>(TrimMemory);
        Receive<GuideCommands.Crash>(_ =>
        {
            foreach (var status in _statuses.Values.Where(s => s.TaskId is not null)) _guides[status.GuideId].Tell(GuideCommands.Crash.Instance);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// A handler that throws is logged and its message dropped, and the monitor goes on with its state (Akka's Resume),
    /// instead of the default restart: the monitor is the parent of every guide, and restarting it would stop them all and
    /// kill every running script, hours of work for a long task, for a fault in bookkeeping. A delivery whose handling
    /// failed goes back to the queue and its stream is asked for the next one (settling twice is refused by the source,
    /// and a demand too many is answered like any delivery without a free guide); what any other message would have done
    /// is lost.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            _log.Error(e, "Monitor: handling {0} failed; the message is dropped, the guides and their scripts are left running", message.GetType().Name);
            if (message is TaskDelivery delivery)
            {
                _ = delivery.Nack(true);
                Sender.Tell(StreamAck.Instance);
            }
            return true;
        }
    }

    public static Props Props(HiveServices services, ScriptCatalog catalog, IActorRef entities, IActorRef statusWriter) =>
        ActorFactory.Props(() => new MonitorActor(services, catalog, entities, statusWriter));

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(maxNrOfRetries: -1, withinTimeRange: Timeout.InfiniteTimeSpan, decider: Decider.From(_ => Directive.Restart));

    protected override void PreStart()
    {
        Context.ActorOf(ResourceGateActor.Props(_services.Settings.Admission), "admission");
        RunDirectories.KeepSparesFor(_services.Settings.Guides);
        Timers.StartPeriodicTimer("heartbeat", Heartbeat.Instance, TimeSpan.Zero, _services.Settings.HeartbeatInterval);
        Timers.StartPeriodicTimer(CatalogTimer, ReadCatalog.Instance, TimeSpan.Zero, CatalogRefreshInterval);
        ScheduleIdleTrim();
    }

    protected override void PostStop()
    {
        var db = _services.Redis.GetDatabase();
        _ = db.KeyDeleteAsync(RedisKeys.Node(_services.Settings.NodeName));
        if (_seedHostIp is { } ip)
            _ = db.HashDeleteAsync(RedisKeys.SeedWatchdog(ip), _guides.Keys.Select(id => (StackExchange.Redis.RedisValue)SeedIdentity(id)).ToArray());
        base.PostStop();
    }

    /// <summary>Tells the task ingestion (event stream) whether this node can take a task now; only changes are published.</summary>
    private void PublishCapacity()
    {
        var canTake = HasRoom && !_draining && _admission.Open && _held is null;
        if (_lastCapacity == canTake) return;
        _lastCapacity = canTake;
        Context.System.EventStream.Publish(new NodeCapacity(canTake));
    }

    /// <summary>A guide is free that no waiting delivery is counted against.</summary>
    private bool HasRoom => _free.Count > _limits.Waiting;

    private void OnStreamInit(IActorRef stream)
    {
        var previous = _pendingAck;
        _stream = stream;
        _pendingAck = null;
        // A parked stream that still buffers deliveries waits for demand before it can hand them over and complete:
        // it gets demand, and whatever it hands over goes back to the queue (OnDelivery).
        if (previous is not null && !previous.Equals(stream)) previous.Tell(StreamAck.Instance);
        OfferDemand(stream);
    }

    /// <summary>A task stream completed (parked or stopped) or failed; a new one introduces itself with StreamInit.</summary>
    private void OnStreamEnded(IActorRef stream, Exception? error)
    {
        var current = stream.Equals(_stream);
        if (stream.Equals(_pendingAck)) _pendingAck = null;
        if (current) _stream = null;
        if (error is not null) _log.Error(error, "Task stream failed");
        else _log.Info(current ? "Task stream completed" : "A replaced task stream completed");
    }

    private void OfferDemand(IActorRef stream)
    {
        PublishCapacity();
        if (!stream.Equals(_stream) || _draining)
        {
            // A replaced stream (a delivery held from it just ran), or any stream once draining (it was stopped first):
            // demand lets it hand over what it still buffers, and that goes back to the queue (OnDelivery).
            stream.Tell(StreamAck.Instance);
            return;
        }
        if (HasRoom && _admission.Open) stream.Tell(StreamAck.Instance);
        else _pendingAck = stream;
    }

    /// <summary>Gives the waiting stream its demand once a guide is free, the gate is open and the node is not draining.</summary>
    private void ReleasePendingDemand()
    {
        if (_pendingAck is not { } pending || !HasRoom || _draining || !_admission.Open) return;
        _pendingAck = null;
        pending.Tell(StreamAck.Instance);
    }

    /// <summary>
    /// The gate's verdict after each sample. Closing withholds demand (the stream's next element is not acknowledged);
    /// opening gives it back when a guide is free. A delivery already on its way when the gate closes still runs.
    /// </summary>
    private void OnAdmission(AdmissionStatus status)
    {
        var previous = _admission;
        _admission = status;
        PublishCapacity();
        if (previous.Open && !status.Open)
            _log.Warning("Admission closed ({Reason}): no new tasks until the machine is below hive.node.admission's limits; running tasks go on",
                status.Reason);
        else if (!previous.Open && status.Open)
        {
            _log.Info("Admission open again (cpu {Cpu}, memory {Memory}): taking tasks", Percent(status.CpuPercent), Percent(status.MemoryPercent));
            DispatchDeferred(); // the older ones first
            DispatchHeld();
            ReleasePendingDemand();
        }
        else if (status.Open && _limits.Waiting > 0)
        {
            // A new sample: tasks waiting for their expected resources to fit may fit now.
            DispatchDeferred();
            ReleasePendingDemand();
        }
    }

    private static string Percent(double? value) => value is { } v ? $"{v:0.#}%" : "unknown";

    private void OnDelivery(TaskDelivery delivery)
    {
        var sender = Sender;
        // No current stream known (this actor was restarted, or the current one has just completed): whoever delivers is
        // taken as the current stream, so a live stream is never answered with requeue-and-next in a loop.
        _stream ??= sender;
        if (!sender.Equals(_stream) || _draining)
        {
            // Buffered by a stream that was parked and replaced, or by the stream when draining began: still
            // unacknowledged on its channel, so it goes back to the queue for any node to take, and the stream is asked for
            // its next one until it is empty.
            _log.Debug("Task {TaskId}: delivered by a replaced or stopped task stream; handed back to the queue", delivery.Spec.TaskId);
            _ = delivery.Nack(true);
            sender.Tell(StreamAck.Instance);
            return;
        }
        if (_free.First is not { } first)
        {
            // Cannot happen while demand follows free guides; hand the message back rather than hold it.
            _ = delivery.Nack(true);
            _pendingAck = sender;
            return;
        }
        if (_limits.AtLimit(delivery))
        {
            Defer(delivery, sender);
            return;
        }
        if (!_admission.Open)
        {
            // Demand was given while the gate was open and the element came after it closed: hold it here, unacknowledged
            // (it goes back to the queue should this node die or drain), until the gate opens again.
            _held = (delivery, sender);
            _log.Info("Admission closed ({Reason}): task {TaskId} waits until the machine is below hive.node.admission's limits",
                _admission.Reason, delivery.Spec.TaskId);
            return;
        }
        if (DoesNotFit(delivery) is { } why)
        {
            Defer(delivery, sender, why);
            return;
        }
        Dispatch(first.Value, delivery, sender);
    }

    /// <summary>
    /// Why the delivery's expected resources (manifest expectedCpu / expectedMemoryMb) do not fit on this node now, or null.
    /// A node that runs nothing takes it all the same: waiting would not make room, and every node may be alike.
    /// </summary>
    private string? DoesNotFit(TaskDelivery delivery) =>
        _free.Count == _guides.Count ? null : _fit.WhyNot(delivery, _admission, DateTimeOffset.UtcNow);

    /// <summary>
    /// Keeps a delivery whose script is at its per-node limit until a run of it ends, or whose expected resources do not
    /// fit until a sample says they do (<paramref name="doesNotFit"/>); the stream gets its next demand if there is room.
    /// </summary>
    private void Defer(TaskDelivery delivery, IActorRef stream, string? doesNotFit = null)
    {
        _limits.Defer(delivery, stream, DateTimeOffset.UtcNow);
        if (doesNotFit is null)
            _log.Debug("Task {TaskId}: script {Script} runs as often as its manifest allows on this node; waiting for one of its runs to end",
                delivery.Spec.TaskId, delivery.Spec.Script);
        else
            _log.Info("Task {TaskId}: script {Script} {Why} (hive.node.admission); it waits on this node for room", delivery.Spec.TaskId,
                delivery.Spec.Script, doesNotFit);
        StartExpiringDeferred();
        OfferDemand(stream);
    }

    private void StartExpiringDeferred()
    {
        if (!Timers.IsTimerActive(DeferredTimer))
            Timers.StartPeriodicTimer(DeferredTimer, ExpireDeferred.Instance, _services.Settings.ParkAfter / 4);
    }

    /// <summary>
    /// A guide found every cluster slot of the delivery's script held: the delivery waits here like one over its per-node
    /// limit (same unit of prefetch, same move to the back of the queue after park-after) and a guide asks again every
    /// cluster-slot-retry. Its stream had its demand when the delivery was dispatched.
    /// </summary>
    private void OnClusterSlotsTaken(ClusterSlotsTaken taken)
    {
        var now = DateTimeOffset.UtcNow;
        var retry = _services.Settings.ClusterSlotRetry;
        if (_draining)
        {
            _ = taken.Delivery.Nack(true);
            OnGuideFree(taken.GuideId);
            return;
        }
        var since = taken.Delivery.SlotWaitSince ?? now;
        // Due half a period on, so the next tick of the periodic timer takes it (not the one after).
        _limits.Defer(taken.Delivery with { SlotWaitSince = since }, _stream ?? ActorRefs.Nobody, since, now + retry / 2);
        OnGuideFree(taken.GuideId);
        StartExpiringDeferred();
        if (!Timers.IsTimerActive(SlotRetryTimer)) Timers.StartPeriodicTimer(SlotRetryTimer, RetryClusterSlots.Instance, retry);
    }

    /// <summary>Hands a delivery to a free guide; the stream that sent it gets its next demand unless it already had it.</summary>
    private void Dispatch(string guideId, TaskDelivery delivery, IActorRef stream, bool offerDemand = true)
    {
        _free.Remove(guideId);
        _limits.Started(guideId, delivery);
        _fit.Started(guideId, delivery, DateTimeOffset.UtcNow);
        Timers.Cancel(IdleTrimTimer);
        _statuses[guideId] = new GuideStatus(guideId, GuideState.Claiming, delivery.Spec.TaskId, null, DateTimeOffset.UtcNow);
        _guides[guideId].Tell(new GuideCommands.Run(delivery));
        if (offerDemand) OfferDemand(stream);
    }

    /// <summary>Runs waiting deliveries whose script is below its limit again (their streams had their demand when they were deferred).</summary>
    private void DispatchDeferred()
    {
        // The timers stop at their next tick once nothing waits: a delivery dispatched to try for a cluster slot may come
        // back, and restarting the expiry timer then would push its tick out again each time.
        var now = DateTimeOffset.UtcNow;
        while (_admission.Open && !_draining && _free.First is { } first && _limits.TakeRunnable(now, _fits) is { } deferred)
            Dispatch(first.Value, deferred.Delivery, deferred.Stream, offerDemand: false);
    }

    /// <summary>
    /// Deliveries that waited park-after go to the back of the queue, where another node may have room for their script;
    /// the back, not their old place at the head, so the tasks queued behind them (other scripts) are not starved while
    /// the limited script's runs go on here.
    /// </summary>
    private void OnExpireDeferred()
    {
        var expired = _limits.TakeWaitingSince(DateTimeOffset.UtcNow - _services.Settings.ParkAfter);
        foreach (var deferred in expired)
        {
            _log.Debug("Task {TaskId}: no run of {Script} ended within {ParkAfter}; to the back of the queue", deferred.Delivery.Spec.TaskId,
                deferred.Script, _services.Settings.ParkAfter);
            _ = MoveToBackAsync(_services.Bus, deferred.Delivery);
        }
        if (_limits.Waiting == 0) Timers.Cancel(DeferredTimer);
        if (expired.Count == 0) return;
        PublishCapacity();
        ReleasePendingDemand();
    }

    /// <summary>Runs the delivery held while the gate was closed, once it is open and a guide is free.</summary>
    private void DispatchHeld()
    {
        if (_held is not { } held || !_admission.Open || _draining || _free.First is not { } first) return;
        _held = null;
        var doesNotFit = DoesNotFit(held.Delivery);
        if (_limits.AtLimit(held.Delivery) || doesNotFit is not null)
        {
            Defer(held.Delivery, held.Stream, doesNotFit); // and the stream gets the demand it was owed while the delivery was held
            return;
        }
        Dispatch(first.Value, held.Delivery, held.Stream);
    }

    /// <summary>Published again (confirmed), then the original is acknowledged; should either fail, the original goes back where it was.</summary>
    private static async Task MoveToBackAsync(IHiveBus bus, TaskDelivery delivery)
    {
        try
        {
            await bus.PublishTaskAsync(delivery.Spec).ConfigureAwait(false);
            await delivery.Ack().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Not published: requeue at its place. Published but not acknowledged: its channel is gone and the broker
            // requeues the original too; the second copy is refused by the task's entity when claimed.
            try { await delivery.Nack(true).ConfigureAwait(false); } catch (Exception) { }
        }
    }

    private void OnGuideFree(string guideId)
    {
        _statuses[guideId] = new GuideStatus(guideId, GuideState.Idle, null, null, DateTimeOffset.UtcNow);
        if (!_free.Contains(guideId)) _free.AddLast(guideId);
        _limits.Ended(guideId);
        _fit.Ended(guideId);
        if (_free.Count == _guides.Count) ScheduleIdleTrim();
        PublishCapacity();
        // The held delivery may come from a replaced stream: the current one can still be waiting for demand.
        DispatchHeld();
        DispatchDeferred();
        ReleasePendingDemand();
        if (_draining && _free.Count == _guides.Count) CompleteDrain();
    }

    /// <summary>After start and after each last running task; then every idle-trim-every while the node stays idle.</summary>
    private void ScheduleIdleTrim()
    {
        if (_services.Settings.IdleTrimAfter > TimeSpan.Zero && !_draining)
            Timers.StartSingleTimer(IdleTrimTimer, TrimIdleMemory.First, _services.Settings.IdleTrimAfter);
    }

    private void TrimMemory(TrimIdleMemory trim)
    {
        if (_draining || _free.Count < _guides.Count) return;
        var log = _log;
        var idleFor = _services.Settings.IdleTrimAfter;
        Task.Run(() =>
        {
            try
            {
                if (IdleMemory.Trim() is not var (before, after)) return;
                if (trim == TrimIdleMemory.First)
                    log.Info("No task for {IdleFor}: unused memory handed back to the system, resident {Before} -> {After} MB", idleFor, before >> 20, after >> 20);
                else
                    log.Debug("Still idle: unused memory handed back to the system, resident {Before} -> {After} MB", before >> 20, after >> 20);
            }
            catch (Exception e)
            {
                log.Warning("Handing unused memory back failed: {Error}", e.Message);
            }
        });
        if (_services.Settings.IdleTrimEvery > TimeSpan.Zero)
            Timers.StartSingleTimer(IdleTrimTimer, TrimIdleMemory.Again, _services.Settings.IdleTrimEvery);
    }

    private void OnControl(ControlCommand command)
    {
        if (command.Action == ControlAction.Drain)
        {
            if (command.Target != _services.Settings.NodeName || _draining) return;
            _log.Warning("Drain requested by {By}: no new tasks; running ones get {Timeout} to finish, then the node exits",
                command.By ?? "a control message", _services.Settings.DrainTimeout);
            // The same path as SIGTERM: coordinated shutdown stops ingestion, then sends this actor Drain.
            _ = CoordinatedShutdown.Get(Context.System).Run(DrainRequestedReason.Instance);
            return;
        }
        if (IsFaultRequest(command, "crash-monitor")) throw new InjectedMonitorFault();
        var running = _statuses.Values.Where(s => s.TaskId is not null && !_free.Contains(s.GuideId)).ToArray();
        if (command.Target == "all")
        {
            foreach (var status in running) _guides[status.GuideId].Tell(new GuideCommands.Control(command));
            return;
        }
        var local = running.FirstOrDefault(s => s.TaskId == command.Target);
        if (local is not null)
        {
            if (IsFaultRequest(command, "crash-guide"))
            {
                _log.Warning("Fault injection: crashing {GuideId}, which runs task {TaskId}", local.GuideId, command.Target);
                _guides[local.GuideId].Tell(GuideCommands.Crash.Instance);
                return;
            }
            _guides[local.GuideId].Tell(new GuideCommands.Control(command));
            return;
        }
        if (command.Action != ControlAction.Stop) return;
        _entities.Tell(new TaskEntityCommands.Cancel(command.Target, command.By ?? "control message"));
        // Waiting here for a run of its script or a cluster slot: a guide claims it now, only to end it stopped (reported
        // at once, its delivery acknowledged), rather than it holding a guide's share until a slot or park-after comes.
        if (_free.First is { } free && _limits.TakeWaiting(command.Target) is { } waiting)
            Dispatch(free.Value, waiting.Delivery with { StoppedBy = command.By ?? "control message" }, waiting.Stream, offerDemand: false);
    }

    /// <summary>
    /// Fault injection for tests, only with hive.node.allow-fault-injection = on: a "message" control command whose data is
    /// <c>{"hiveFault": "crash-guide"}</c> makes the guide running its task throw instead of writing to stdin;
    /// <c>{"hiveFault": "crash-monitor"}</c> makes this monitor throw while handling it.
    /// </summary>
    private bool IsFaultRequest(ControlCommand command, string fault) =>
        _services.Settings.AllowFaultInjection
        && command.Action == ControlAction.Message
        && command.Data is { ValueKind: JsonValueKind.Object } data
        && data.TryGetProperty("hiveFault", out var requested)
        && requested.ValueKind == JsonValueKind.String
        && requested.ValueEquals(fault);

    private void StartDrain(Drain drain)
    {
        _drainRequester = Sender;
        var timeout = drain.Timeout ?? _services.Settings.DrainTimeout;
        if (_draining)
        {
            // A later, shorter drain (the node was downed while draining) cuts the grace period.
            if (timeout == TimeSpan.Zero && _free.Count < _guides.Count) HandBackRunning();
            return;
        }
        _draining = true;
        Timers.Cancel(IdleTrimTimer);
        // The stream, stopped by now, may still buffer deliveries: demand lets it hand them over, and they go back (OnDelivery).
        _pendingAck?.Tell(StreamAck.Instance);
        _pendingAck = null;
        if (_held is { } held)
        {
            _held = null;
            _ = held.Delivery.Nack(true);
            held.Stream.Tell(StreamAck.Instance);
        }
        foreach (var deferred in _limits.TakeWaitingSince()) _ = deferred.Delivery.Nack(true);
        Timers.Cancel(DeferredTimer);
        _log.Info("Draining: no new tasks; running ones get {Timeout} to finish", timeout);
        if (_free.Count == _guides.Count) CompleteDrain();
        else if (timeout == TimeSpan.Zero) HandBackRunning();
        else Timers.StartSingleTimer("drain", DrainDeadline.Instance, timeout);
    }

    private void HandBackRunning()
    {
        foreach (var (id, guide) in _guides)
            if (!_free.Contains(id)) guide.Tell(GuideCommands.HandBack.Instance);
    }

    private void CompleteDrain()
    {
        Timers.Cancel("drain");
        _log.Info("Drained: every guide is free");
        _drainRequester?.Tell(Drained.Instance);
    }

    private void WriteHeartbeat()
    {
        var key = RedisKeys.Node(_services.Settings.NodeName);
        var now = DateTimeOffset.UtcNow;
        var entries = _guides.Keys.Select(id =>
        {
            var s = _statuses.GetValueOrDefault(id) ?? new GuideStatus(id, GuideState.Idle, null, null, now);
            var json = JsonSerializer.Serialize(new { state = s.State.ToString().ToLowerInvariant(), taskId = s.TaskId, pid = s.Pid, heartbeat = now });
            return new StackExchange.Redis.HashEntry(id, json);
        }).ToArray();
        var db = _services.Redis.GetDatabase();
        var ttl = _services.Settings.HeartbeatInterval * 3;
        var log = _log;
        var node = new StackExchange.Redis.HashEntry(NodeHashFields.Node, JsonSerializer.Serialize(new
        {
            admission = _admission.Describe(),
            cpuPercent = _admission.CpuPercent is { } cpu ? Math.Round(cpu, 1) : (double?)null,
            memoryPercent = _admission.MemoryPercent is { } memory ? Math.Round(memory, 1) : (double?)null,
            guides = _guides.Count,
            free = _free.Count,
            draining = _draining,
            heartbeat = now,
            scripts = _scripts,
        }));
        var writes = new List<Task> { db.HashSetAsync(key, [.. entries, node]), db.KeyExpireAsync(key, ttl) };
        if (_services.Settings.SeedCompat) writes.Add(WriteSeedWatchdog(db, now));
        Task.WhenAll(writes)
            .ContinueWith(t => log.Debug("Heartbeat write failed: {Error}", t.Exception?.GetBaseException().Message), TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>Lists tasks/ off the actor's thread (file system reads); the result comes back as <see cref="CatalogRead"/>.</summary>
    private void ReadCatalogAsync()
    {
        if (_readingCatalog) return; // a slow tasks/ (a network mount) must not pile up reads
        _readingCatalog = true;
        var catalog = _catalog;
        Task.Run(() => new CatalogRead(catalog.List()))
            .PipeTo(Self, failure: e => new CatalogRead(null, e.GetBaseException().Message));
    }

    private void OnCatalogRead(CatalogRead read)
    {
        _readingCatalog = false;
        if (read.Scripts is not { } scripts)
        {
            _log.Warning("Reading the tasks folder for the catalogue failed: {Error}", read.Error);
            return;
        }
        _scripts = [.. scripts.Select(s => (object)new { name = s.Name, hash = s.ContentHash })];
    }

    /// <summary>
    /// The seed's watchdog: hash <c>hive.watchdog-&lt;ip&gt;</c>, one field per guide (identity <c>&lt;node&gt;/&lt;guide&gt;</c>, so nodes
    /// sharing a host do not collide), no expiry (as the seed); this node's fields are removed when it stops.
    /// pid is the script's while one runs, else the node's; state is the seed's word for the guide's task.
    /// </summary>
    private Task WriteSeedWatchdog(StackExchange.Redis.IDatabase db, DateTimeOffset now)
    {
        var ip = _seedHostIp ??= SeedHostIp();
        var host = Environment.MachineName;
        var fields = _guides.Keys.Select(id =>
        {
            var s = _statuses.GetValueOrDefault(id);
            var state = s?.State switch
            {
                GuideState.Claiming => TaskState.Accepted,
                GuideState.Running => TaskState.Running,
                GuideState.Paused => TaskState.Paused,
                _ => (TaskState?)null, // idle, or reporting an ended task: the seed's guide says "wait" again
            };
            var entry = new SeedWatchdogEntry(host, ip, s?.Pid ?? Environment.ProcessId, state, SeedIdentity(id), now);
            return new StackExchange.Redis.HashEntry(SeedRedisShapes.WatchdogField(entry), SeedRedisShapes.WatchdogValue(entry));
        }).ToArray();
        return db.HashSetAsync(RedisKeys.SeedWatchdog(ip), fields);
    }

    private string SeedIdentity(string guideId) => $"{_services.Settings.NodeName}/{guideId}";

    /// <summary>The host's first non-loopback IPv4 address (the seed's key names the host by it), else 127.0.0.1.</summary>
    private static string SeedHostIp()
    {
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus == OperationalStatus.Down || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback) continue;
                foreach (var address in nic.GetIPProperties().UnicastAddresses)
                    if (address.Address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(address.Address))
                        return address.Address.ToString();
            }
        }
        catch (NetworkInformationException)
        {
            // No interface information: fall back to loopback, as a host without a network would.
        }

        return IPAddress.Loopback.ToString();
    }

    private sealed class Heartbeat : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Heartbeat Instance = new();
        private Heartbeat() { }
    }

    private sealed class TrimIdleMemory : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly TrimIdleMemory First = new();
        public static readonly TrimIdleMemory Again = new();
        private TrimIdleMemory() { }
    }

    private sealed record CatalogRead(IReadOnlyList<ResolvedScript>? Scripts, string? Error = null);

    private sealed class ReadCatalog : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly ReadCatalog Instance = new();
        private ReadCatalog() { }
    }

    private sealed class ExpireDeferred : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly ExpireDeferred Instance = new();
        private ExpireDeferred() { }
    }

    private sealed class RetryClusterSlots : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly RetryClusterSlots Instance = new();
        private RetryClusterSlots() { }
    }

    private sealed class DrainDeadline
    {
        public static readonly DrainDeadline Instance = new();
        private DrainDeadline() { }
    }
}

/// <summary>Why the node shut down when a <c>drain</c> control message named it (`hive drain NODE`).</summary>
public sealed class DrainRequestedReason : CoordinatedShutdown.Reason
{
    public static readonly DrainRequestedReason Instance = new();
    private DrainRequestedReason() { }
    public override int ExitCode => 0;
    public override string ToString() => "drain requested by a control message";
}

/// <summary>The task stream's handshake with the monitor (Sink.ActorRefWithAck).</summary>
public sealed class StreamInit
{
    public static readonly StreamInit Instance = new();
    private StreamInit() { }
}

public sealed class StreamAck
{
    public static readonly StreamAck Instance = new();
    private StreamAck() { }
}

public sealed class StreamCompleted
{
    public static readonly StreamCompleted Instance = new();
    private StreamCompleted() { }
}

/// <summary>
/// Asks the monitor to stop taking tasks and empty its guides; answered with <see cref="Drained"/>. Send it only once the
/// task stream is stopped (<see cref="StopIngestion"/>): what the stream still hands over goes back to the queue, and a
/// stream still consuming would be given it again at once.
/// </summary>
public sealed class Drain
{
    /// <summary>Running scripts get hive.node.drain-timeout to finish, then are stopped and handed back.</summary>
    public static readonly Drain Instance = new(null);

    /// <summary>
    /// Running scripts are stopped and handed back at once: for a node the cluster has downed, whose tasks the
    /// surviving members already re-queue, so they must not keep running here.
    /// </summary>
    public static readonly Drain Immediately = new(TimeSpan.Zero);

    private Drain(TimeSpan? timeout) => Timeout = timeout;

    /// <summary>Grace period for running scripts; null = hive.node.drain-timeout.</summary>
    public TimeSpan? Timeout { get; }
}

public sealed class Drained
{
    public static readonly Drained Instance = new();
    private Drained() { }
}

/// <summary>Asks for the guides' statuses; answered with GuideStatus[].</summary>
public sealed class GetGuides
{
    public static readonly GetGuides Instance = new();
    private GetGuides() { }
}
