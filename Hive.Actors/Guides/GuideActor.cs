using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Hive.Actors.Contracts;
using Hive.Actors.Entities;
using Hive.Actors.Hosting;
using Hive.Actors.Metrics;
using Hive.Actors.Processes;
using Hive.Actors.Progress;
using static Hive.Actors.Entities.TaskEntityReplies;

namespace Hive.Actors.Guides;

/// <summary>
/// Runs one task at a time and owns exactly one script process. Claims the task from its TaskEntity,
/// acknowledges the delivery once the claim is durable, streams snapshots to the status writer,
/// obeys stop / pause / resume / message, runs loops, and reports the end to the entity until it is recorded.
/// Never blocks: the process is watched by <see cref="ScriptProcess"/> and its events arrive as messages.
/// </summary>
public sealed class GuideActor : UntypedActor, IWithTimers
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private const int MaxClaimAttempts = 6;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _guideId;
    private readonly HiveServices _services;
    private readonly ScriptCatalog _catalog;
    private readonly IActorRef _entities;
    private readonly IActorRef _status;
    private readonly ClaimOwner _owner;

    private Job? _job;
    private int _claimAttempts;
    private ScriptProcess? _process;
    // Unique per process start across guides and their restarts, so a late event of a run killed by a previous
    // incarnation is never taken for one of the current run.
    private static int _runSeqSource;
    private int _runSeq;

    public GuideActor(string guideId, HiveServices services, ScriptCatalog catalog, IActorRef entities, IActorRef statusWriter)
    {
        _guideId = guideId;
        _services = services;
        _catalog = catalog;
        _entities = entities;
        _status = statusWriter;
        _owner = new ClaimOwner(services.Settings.NodeName, TaskEntityActor.MemberUid(Cluster.Get(Context.System).SelfUniqueAddress), Self.Path.ToStringWithoutAddress());
        EnterIdle();
    }

    // The states are plain switches (Become with a method) rather than ReceiveActor's Receive<T> tables: a guide changes
    // state four times per task, and ReceiveActor rebuilt a typed handler table at each change.
    protected override void OnReceive(object message) => Idle(message);

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string guideId, HiveServices services, ScriptCatalog catalog, IActorRef entities, IActorRef statusWriter) =>
        ActorFactory.Props(() => new GuideActor(guideId, services, catalog, entities, statusWriter));

    private void EnterIdle()
    {
        if (_job is not null) Timers.Cancel(LeaseTimer);
        if (_job is { HoldsSlot: true } job) ReleaseSlot(job.Delivery);
        _job = null;
        Become(Idle); // the monitor records the guide idle when it gets GuideFree (and at its creation)
    }

    private void Idle(object message)
    {
        switch (message)
        {
            case GuideCommands.Run run: Claim(run.Delivery); break;
            case ClaimAfterRestart again: Claim(again.Delivery, again.HoldsSlot); break;
            case GuideCommands.Control c: CancelWhenStopped(c.Command); break;
            case GuideCommands.HandBack or RenewLease or LeaseHeld or LeaseLost or RenewFailed: break;
            case LostCopyEnded: Context.Parent.Tell(new GuideFree(_guideId)); break;
            case ReportEndAfterRestart r: BeginReport(r.Job, r.Result, EndKind.Retryable); break;
            default: Common(message); break;
        }
    }

    /// <param name="holdsSlot">After a restart in the middle of a claim: the cluster slot already held is kept, not asked for again.</param>
    private void Claim(TaskDelivery delivery, bool holdsSlot = false)
    {
        _job = new Job(delivery, 0, 0, new List<IReadOnlyList<string>>(), null, null) { StoppedBy = delivery.StoppedBy, HoldsSlot = holdsSlot };
        _claimAttempts = 0;
        if (holdsSlot) Timers.StartPeriodicTimer(SlotTimer, RefreshSlot.Instance, _services.Slots.Lease / 3);
        else if (delivery is { PerClusterLimit: { } limit, Spec.Script: { } script, StoppedBy: null })
        {
            // A slot first, then the claim: a task that cannot run anywhere yet is neither claimed nor acknowledged.
            Become(AcquiringSlot);
            var holder = SlotHolder(delivery);
            _services.Slots.TryAcquireAsync(script, holder, limit).WaitAsync(AskTimeout)
                .PipeTo(Self, success: held => new SlotAnswer(script, holder, held, null), failure: e => new SlotAnswer(script, holder, false, e));
            return;
        }
        Become(Claiming);
        SendClaim(delivery); // the monitor recorded the guide claiming when it dispatched the delivery
    }

    /// <summary>Unique to this node's incarnation, this guide and the task: asking again for the same run is idempotent.</summary>
    private string SlotHolder(TaskDelivery delivery) => $"{_owner.MemberUid}|{_guideId}|{delivery.Spec.TaskId}";

    private void AcquiringSlot(object message)
    {
        switch (message)
        {
            case SlotAnswer answer when answer.Holder != SlotHolder(_job!.Delivery):
                OnStaleSlotAnswer(answer);
                break;
            case SlotAnswer { Held: true }:
                var job = _job = _job! with { HoldsSlot = true };
                Timers.StartPeriodicTimer(SlotTimer, RefreshSlot.Instance, _services.Slots.Lease / 3);
                if (job.HandingBack)
                {
                    AckDelivery(job.Delivery, ack: false);
                    BecomeIdle();
                    return;
                }
                Become(Claiming);
                SendClaim(job.Delivery);
                break;
            case SlotAnswer answer:
                var delivery = _job!.Delivery;
                if (answer.Error is { } error)
                {
                    _log.Warning("Task {TaskId}: the cluster slots of {Script} could not be read ({Error}); it waits and asks again",
                        delivery.Spec.TaskId, delivery.Spec.Script, error.GetBaseException().Message);
                    // The script may have run on the server all the same (a timeout here): give back what it may have taken.
                    ReleaseSlot(delivery);
                }
                if (_job.StoppedBy is not null)
                {
                    // Stopped while asking: claimed only to be ended stopped, whatever the slots.
                    Become(Claiming);
                    SendClaim(delivery);
                    return;
                }
                if (_job.HandingBack)
                {
                    AckDelivery(delivery, ack: false);
                    BecomeIdle();
                    return;
                }
                _log.Debug("Task {TaskId}: all {Limit} cluster slots of {Script} are held; it waits", delivery.Spec.TaskId,
                    delivery.PerClusterLimit, delivery.Spec.Script);
                EnterIdle();
                Context.Parent.Tell(new ClusterSlotsTaken(_guideId, delivery));
                break;
            case GuideCommands.Control c:
                // Not claimed yet: the entity records the stop, and the claim that follows the answer ends the task stopped.
                if (c.Command.Action == ControlAction.Stop) _job = _job! with { StoppedBy = c.Command.By ?? "control message" };
                CancelWhenStopped(c.Command);
                break;
            case GuideCommands.HandBack:
                _job = _job! with { HandingBack = true };
                break;
            case LeaseHeld or LeaseLost or RenewFailed:
                break;
            default:
                Common(message);
                break;
        }
    }

    private void ReleaseSlot(TaskDelivery delivery)
    {
        Timers.Cancel(SlotTimer);
        ReleaseSlot(delivery.Spec.Script!, SlotHolder(delivery), delivery.Spec.TaskId);
    }

    private void ReleaseSlot(string script, string holder, string taskId) =>
        WarnIfFails(_services.Slots.ReleaseAsync(script, holder), taskId, "releasing its cluster slot failed (it lapses with its lease)");

    /// <summary>For writes nobody waits for: a failure is logged, never thrown at the actor.</summary>
    private void WarnIfFails(Task write, string taskId, string what)
    {
        var log = _log;
        write.ContinueWith(t => log.Warning("Task {TaskId}: {What}: {Error}", taskId, what, t.Exception?.GetBaseException().Message),
            TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>
    /// The answer to an ask of an earlier incarnation or for an earlier task: a slot it took is given back, unless it is the
    /// one the current job holds (the same holder asked again).
    /// </summary>
    private void OnStaleSlotAnswer(SlotAnswer answer)
    {
        if (!answer.Held || _job is { HoldsSlot: true } job && SlotHolder(job.Delivery) == answer.Holder) return;
        ReleaseSlot(answer.Script, answer.Holder, answer.Holder.Split('|', 3)[^1]);
    }

    private void SendClaim(TaskDelivery delivery)
    {
        _claimAttempts++;
        var spec = delivery.Spec;
        _entities.Ask<object>(new TaskEntityCommands.Claim(spec.TaskId, spec, _owner, delivery.ReceivedAt), AskTimeout)
            .PipeTo(Self, failure: e => new ClaimFailed(e));
    }

    /// <summary>
    /// A claim that timed out may still land (sharding buffers it while the entity's shard moves, e.g. after a node died):
    /// asking again as the same owner is idempotent (the entity grants its own owner again), whereas handing the delivery
    /// back would let another guide find the task "already running" here, held by nobody. So a claim that timed out is
    /// asked again for as long as it takes (each ask waits its timeout); only an explicit failure from the entity (nothing
    /// was recorded) ends in handing the delivery back, after a few tries.
    /// </summary>
    private bool RetryClaim(Exception error)
    {
        if (_claimAttempts >= MaxClaimAttempts && error.GetBaseException() is not AskTimeoutException) return false;
        _log.Warning("Task {TaskId}: claim attempt {Attempt} failed ({Error}); asking again as the same owner",
            _job!.Delivery.Spec.TaskId, _claimAttempts, error.GetBaseException().Message);
        SendClaim(_job.Delivery);
        return true;
    }

    private void Claiming(object message)
    {
        switch (message)
        {
            case ClaimGranted granted:
                var job = _job! with { Attempt = granted.Attempt, Epoch = granted.Epoch };
                _job = job;
                AckDelivery(job.Delivery, ack: true);
                if (job.StoppedBy is { } by)
                    Finish(TaskEnd.Stopped(by), Array.Empty<string>(), null, EndKind.Final);
                else if (job.HandingBack)
                    Finish(TaskEnd.Stopped("a draining node"), Array.Empty<string>(), null, EndKind.HandBack);
                else
                    StartRun();
                break;
            case ClaimRefused refused:
                _log.Info("Task {TaskId}: not run here: {Reason}", refused.TaskId, refused.Reason);
                AckDelivery(_job!.Delivery, ack: true);
                BecomeIdle();
                break;
            case ClaimFailed failed:
                OnClaimFailed(failed.Error);
                break;
            case Status.Failure failed:
                OnClaimFailed(failed.Cause);
                break;
            case GuideCommands.Control c:
                // A stop that arrives while the claim is in flight is applied as soon as the claim is granted.
                if (c.Command.Action == ControlAction.Stop) _job = _job! with { StoppedBy = c.Command.By ?? "control message" };
                break;
            case GuideCommands.HandBack:
                // The drain's deadline passed while the claim was in flight: once granted, the task goes straight back.
                _job = _job! with { HandingBack = true };
                break;
            case LeaseHeld or LeaseLost or RenewFailed:
                break; // a late answer about the previous task
            default:
                Common(message);
                break;
        }
    }

    private void OnClaimFailed(Exception error)
    {
        if (RetryClaim(error)) return;
        _log.Warning("Task {TaskId}: claim failed, requeueing the delivery: {Error}", _job!.Delivery.Spec.TaskId, error.GetBaseException().Message);
        AckDelivery(_job.Delivery, ack: false);
        BecomeIdle();
    }

    private void StartRun()
    {
        var job = _job!;
        var spec = job.Delivery.Spec;
        var runNumber = job.Runs + 1;
        _job = job with { Runs = runNumber, StartedAt = job.StartedAt ?? DateTimeOffset.UtcNow };
        if (job.StartedAt is null) HiveMetrics.QueueWait.Observe(Math.Max(0, (_job.StartedAt!.Value - job.Delivery.ReceivedAt).TotalSeconds));
        ScriptLaunch launch;
        ScriptManifest? manifest;
        try
        {
            launch = BuildLaunch(spec, job.Attempt, out manifest);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            Finish(TaskEnd.Rejected(e.Message), Array.Empty<string>(), null, EndKind.Final);
            return;
        }

        var options = ScriptRunOptions.Default with
        {
            ProgressLength = Math.Max(spec.ProgressLength, spec.ResultLength),
            MaxLineLength = _services.Settings.MaxLineBytes,
            NotifyInterval = _services.Settings.ProgressInterval,
            StopGracePeriod = _services.Settings.StopGrace,
            Timeout = spec.TimeoutSeconds is { } t ? TimeSpan.FromSeconds(t) : null,
            MaxOutputBytes = manifest?.MaxOutputBytes ?? 0,
            MemoryLimitBytes = manifest?.MemoryLimitMb * 1024 * 1024,
            KeepWorkingDirectory = _services.Settings.KeepWorkDir,
            RunAs = _services.RunAs,
        };
        var seq = _runSeq = Interlocked.Increment(ref _runSeqSource);
        try
        {
            _process = ScriptProcess.Start(launch, options, new ActorObserver(Self, seq));
        }
        catch (ScriptStartException e)
        {
            _log.Warning("Task {TaskId}: script could not start: {Error}", spec.TaskId, e.Message);
            Finish(new TaskEnd(TaskState.Failed, null, null, $"could not start: {e.Message}"), Array.Empty<string>(), null, EndKind.Retryable);
            return;
        }
        _log.Info("Task {TaskId}: attempt {Attempt} run {Run} started as pid {Pid}", spec.TaskId, job.Attempt, runNumber, _process.Pid);
        // Recorded until its tree is gone, so a restart of this node after a SIGKILL kills it instead of leaving an orphan.
        if (_services.Runs.Track(_process) is { } ledgerError)
            _log.Warning("Task {TaskId}: {Error}; if this node is killed, pid {Pid} survives it", spec.TaskId, ledgerError, _process.Pid);
        Become(Running);
        Publish(GuideState.Running, _process.Pid);
        WriteStatus(TaskState.Running, null, runNumber == 1 ? "started" : null);
        if (runNumber == 1 && _services.Settings.LeaseRenewInterval > TimeSpan.Zero)
            Timers.StartPeriodicTimer(LeaseTimer, RenewLease.Instance, _services.Settings.LeaseRenewInterval);
    }

    private ScriptLaunch BuildLaunch(TaskSpec spec, int attempt, out ScriptManifest? manifest)
    {
        manifest = null;
        if (spec.Command is { } command)
        {
            if (!_services.Settings.AllowCommands)
                throw new ArgumentException("target.command is disabled on this node (hive.tasks.allow-commands = off)");
            return ScriptLaunch.ForCommand(command, spec.TaskId, attempt, _services.Settings.WorkDir, _services.Settings.TasksDir);
        }
        var resolution = _catalog.Resolve(spec.Script);
        if (!resolution.TryGetScript(out var script, out var error)) throw new ArgumentException(error);
        manifest = script.Manifest;
        return ScriptLaunch.ForScript(script, spec.TaskId, attempt, spec.Args, _services.Settings.WorkDir);
    }

    private void Running(object message)
    {
        switch (message)
        {
            case RunSnapshot s when s.Seq == _runSeq:
                _job = _job! with { Last = s.Snapshot };
                if (_job.LeaseLost is null) WriteStatus(s.Snapshot.Paused ? TaskState.Paused : TaskState.Running, null, null);
                break;
            case RunExited e when e.Seq == _runSeq:
                OnRunExited(e.Exit);
                break;
            case RunSnapshot or RunExited:
                break;
            case GuideCommands.Control c:
                OnControl(c.Command);
                break;
            case GuideCommands.HandBack:
                _job = _job! with { HandingBack = true };
                _process?.StopAsync(_services.Settings.StopGrace);
                break;
            case NextRun when _job!.HandingBack:
                // Handed back between two runs of a loop: no next run here.
                Finish(TaskEnd.Stopped("a draining node"), Array.Empty<string>(), null, EndKind.HandBack);
                break;
            case NextRun:
                StartRun();
                break;
            case RenewLease:
                var spec = _job!.Delivery.Spec;
                _entities.Ask<object>(new TaskEntityCommands.Renew(spec.TaskId, _owner, _job.Epoch), AskTimeout)
                    .PipeTo(Self, failure: e => new RenewFailed(e));
                break;
            case LeaseLost lost when lost.TaskId == _job!.Delivery.Spec.TaskId && lost.Epoch == _job.Epoch:
                OnLeaseLost(lost.Reason);
                break;
            case LeaseHeld or LeaseLost:
                break;
            case RenewFailed failed:
                // Not a verdict (the entity's shard may be moving): the run goes on, and the next renewal asks again.
                _log.Debug("Task {TaskId}: renewing the lease failed: {Error}", _job!.Delivery.Spec.TaskId, failed.Error.GetBaseException().Message);
                break;
            default:
                Common(message);
                break;
        }
    }

    /// <summary>
    /// The task was released (this node was taken for lost), requeued, ended or claimed again elsewhere while this copy ran:
    /// stop it. Nothing is reported or written for it: the task's status and result belong to the claim that replaced it.
    /// </summary>
    private void OnLeaseLost(string reason)
    {
        var job = _job!;
        _log.Warning("Task {TaskId}: this node no longer holds its claim (epoch {Epoch}): {Reason}; stopping this copy",
            job.Delivery.Spec.TaskId, job.Epoch, reason);
        _job = job with { LeaseLost = reason };
        Timers.Cancel(LeaseTimer);
        if (_process is { } process)
        {
            process.StopAsync(_services.Settings.StopGrace);
            return;
        }
        Timers.Cancel("next-run"); // between two runs of a loop
        BecomeIdle();
    }

    private void OnControl(ControlCommand command)
    {
        if (_job?.LeaseLost is not null) return; // being stopped; the task's status belongs to another claim
        var process = _process;
        if (process is null)
        {
            if (command.Action == ControlAction.Stop && _job is { } waiting)
            {
                // Between two loop runs: there is no process to stop.
                Timers.Cancel("next-run");
                _job = waiting with { StoppedBy = command.By ?? "control message" };
                var last = waiting.Last;
                Finish(TaskEnd.Stopped(_job.StoppedBy), last?.Lines ?? Array.Empty<string>(), ParseResult(last?.ResultJson), EndKind.Final);
            }
            return;
        }
        switch (command.Action)
        {
            case ControlAction.Stop:
                _job = _job! with { StoppedBy = command.By ?? "control message" };
                _log.Info("Task {TaskId}: stopping (by {By})", _job.Delivery.Spec.TaskId, _job.StoppedBy);
                process.StopAsync(_services.Settings.StopGrace);
                break;
            case ControlAction.Pause:
                process.Pause();
                Publish(GuideState.Paused, process.Pid);
                WriteStatus(TaskState.Paused, null, "paused");
                break;
            case ControlAction.Resume:
                process.Resume();
                Publish(GuideState.Running, process.Pid);
                WriteStatus(TaskState.Running, null, "resumed");
                break;
            case ControlAction.Message:
                var line = command.Data is { } data ? JsonSerializer.Serialize(data) : "null";
                var log = _log;
                var taskId = _job!.Delivery.Spec.TaskId;
                process.WriteStdinLineAsync(line).ContinueWith(
                    t => log.Warning("Task {TaskId}: message not delivered to stdin: {Error}", taskId, t.Exception?.GetBaseException().Message),
                    TaskContinuationOptions.OnlyOnFaulted);
                break;
        }
    }

    private void OnRunExited(ScriptExit exit)
    {
        var job = _job!;
        var spec = job.Delivery.Spec;
        _process = null;
        if (job.LeaseLost is not null)
        {
            _log.Info("Task {TaskId}: the copy of a lost claim ended ({Exit})", spec.TaskId, exit.Signal is { } sig ? $"signal {sig}" : $"exit code {exit.ExitCode}");
            BecomeIdle();
            return;
        }
        var runLines = job.RunLines;
        runLines.Add(exit.TailLines(Math.Min(spec.ResultLength, exit.Final.Lines.Count)));
        _job = job = job with { Last = exit.Final };
        var result = ParseResult(exit.Final.ResultJson);
        var lines = exit.TailLines(Math.Min(spec.ResultLength, exit.Final.Lines.Count));

        if (job.HandingBack)
        {
            Finish(TaskEnd.Stopped("a draining node"), lines, result, EndKind.HandBack);
            return;
        }
        switch (exit.StopReason)
        {
            case ScriptStopReason.Stopped:
                Finish(TaskEnd.Stopped(job.StoppedBy, exit.Signal), lines, result, EndKind.Final);
                return;
            case ScriptStopReason.TimedOut:
                Finish(TaskEnd.TimedOut(exit.Duration, exit.Signal), lines, result, EndKind.Final);
                return;
        }
        if (exit.Signal is { } signal)
        {
            Finish(TaskEnd.Killed(signal), lines, result, EndKind.Retryable);
            return;
        }
        if (exit.ExitCode != 0)
        {
            Finish(TaskEnd.Exited(exit.ExitCode), lines, result, EndKind.Retryable);
            return;
        }
        var moreRuns = spec.Loop < 0 || job.Runs < spec.Loop;
        if (moreRuns && job.StoppedBy is null)
        {
            Become(Running);
            Timers.StartSingleTimer("next-run", NextRun.Instance, TimeSpan.FromSeconds(Math.Max(0, spec.IntervalSeconds)));
            return;
        }
        Finish(TaskEnd.Exited(0), lines, result, EndKind.Final);
    }

    private void Finish(TaskEnd end, IReadOnlyList<string> lines, JsonElement? result, EndKind kind)
    {
        var job = _job!;
        var spec = job.Delivery.Spec;
        if (end.State != TaskState.Succeeded && end.State != TaskState.Failed) kind = kind == EndKind.HandBack ? kind : EndKind.Final;
        var taskResult = TaskResult.From(spec, end, job.Attempt, lines, result, job.Delivery.ReceivedAt, job.StartedAt,
            DateTimeOffset.UtcNow, _services.Settings.NodeName, job.Runs, job.RunLines.ToArray());
        BeginReport(job, taskResult, kind);
    }

    private void BeginReport(Job job, TaskResult result, EndKind kind)
    {
        _job = job;
        Timers.Cancel(LeaseTimer);
        _log.Info("Task {TaskId}: attempt {Attempt} ended {State}: {Reason}", result.TaskId, result.Attempt, result.State.ToWire(), result.Reason);
        var willRetry = kind == EndKind.Retryable && result.Attempt < result.MaxAttempts;
        if (kind != EndKind.HandBack) HiveMetrics.AttemptEnded(result.State, final: !willRetry, result.Script, result.EndedAt - result.StartedAt);
        var shown = kind == EndKind.HandBack ? TaskState.Queued : willRetry ? TaskState.Queued : result.State;
        WriteFinalStatus(job, result, shown, kind == EndKind.HandBack ? "handed-back" : "finished");
        Become(message => Reporting(message, job, result, kind));
        Publish(GuideState.Reporting);
        SendReport(job, result, kind);
    }

    private void SendReport(Job job, TaskResult result, EndKind kind) =>
        _entities.Ask<object>(new TaskEntityCommands.ReportEnd(result.TaskId, job.Epoch, result, kind), AskTimeout)
            .PipeTo(Self, failure: e => new ReportFailed(e));

    private void Reporting(object message, Job job, TaskResult result, EndKind kind)
    {
        switch (message)
        {
            case EndRecorded:
                BecomeIdle();
                break;
            case EndRefused refused:
                _log.Warning("Task {TaskId}: the entity refused this end ({Reason}); another owner has the task", result.TaskId, refused.Reason);
                BecomeIdle();
                break;
            case ReportFailed failed:
                RetryReportLater(result, failed.Error);
                break;
            case Status.Failure failed:
                RetryReportLater(result, failed.Cause);
                break;
            case RetryReport:
                SendReport(job, result, kind);
                break;
            case GuideCommands.Control c:
                CancelWhenStopped(c.Command);
                break;
            case GuideCommands.HandBack or RunSnapshot or RunExited or RenewLease or LeaseHeld or LeaseLost or RenewFailed:
                break;
            default:
                Common(message);
                break;
        }
    }

    /// <summary>
    /// A stop that reaches this guide when it runs nothing (its end is being recorded, or it was restarted and reports the
    /// end next) goes to the task's entity: a retry that end would schedule is cancelled instead of run.
    /// </summary>
    private void CancelWhenStopped(ControlCommand command)
    {
        if (command.Action == ControlAction.Stop && !command.TargetsAll)
            _entities.Tell(new TaskEntityCommands.Cancel(command.Target, command.By ?? "control message"));
    }

    private void RetryReportLater(TaskResult result, Exception error)
    {
        _log.Warning("Task {TaskId}: recording the end failed, retrying in 2 s: {Error}", result.TaskId, error.GetBaseException().Message);
        Timers.StartSingleTimer("report", RetryReport.Instance, TimeSpan.FromSeconds(2));
    }

    private void BecomeIdle()
    {
        _process = null;
        EnterIdle();
        Context.Parent.Tell(new GuideFree(_guideId));
    }

    /// <summary>What every state handles the same way: the fault-injection crash (tests only), else unhandled.</summary>
    private void Common(object message)
    {
        if (message is SlotAnswer stale)
        {
            OnStaleSlotAnswer(stale);
            return;
        }
        if (message is RefreshSlot)
        {
            if (_job is { HoldsSlot: true } job)
                WarnIfFails(_services.Slots.RefreshAsync(job.Delivery.Spec.Script!, SlotHolder(job.Delivery)), job.Delivery.Spec.TaskId,
                    "extending its cluster slot failed");
            return;
        }
        if (message is not GuideCommands.Crash)
        {
            Unhandled(message);
            return;
        }
        if (_services.Settings.AllowFaultInjection) throw new InjectedGuideFault();
    }

    private void AckDelivery(TaskDelivery delivery, bool ack) =>
        WarnIfFails(ack ? delivery.Ack() : delivery.Nack(true), delivery.Spec.TaskId, ack ? "ack failed" : "nack failed");

    private void Publish(GuideState state, int? pid = null) =>
        Context.Parent.Tell(new GuideStatus(_guideId, state, _job?.Delivery.Spec.TaskId, pid, DateTimeOffset.UtcNow));

    private void WriteStatus(TaskState state, string? reason, string? evt)
    {
        var job = _job!;
        var spec = job.Delivery.Spec;
        var s = job.Last;
        _status.Tell(new StatusUpdate(new TaskStatusDocument(spec.TaskId, spec.Script ?? "command", state, _services.Settings.NodeName, _guideId,
            job.Attempt, s?.Progress, s?.Stage, TailOf(s?.Lines, spec.ProgressLength), s?.TotalLines ?? 0, job.Delivery.ReceivedAt, job.StartedAt,
            DateTimeOffset.UtcNow, null, reason, ParseResult(s?.ResultJson), _process?.Pid), evt));
    }

    private void WriteFinalStatus(Job job, TaskResult result, TaskState shown, string evt)
    {
        var spec = job.Delivery.Spec;
        var s = job.Last;
        _status.Tell(new StatusUpdate(new TaskStatusDocument(spec.TaskId, spec.Script ?? "command", shown, _services.Settings.NodeName, _guideId,
            job.Attempt, s?.Progress, s?.Stage, TailOf(s?.Lines, spec.ProgressLength), s?.TotalLines ?? 0, job.Delivery.ReceivedAt, job.StartedAt,
            DateTimeOffset.UtcNow, result.ExitCode, result.Reason, result.Result, null), evt));
    }

    private static IReadOnlyList<string> TailOf(IReadOnlyList<string>? lines, int count)
    {
        if (lines is null) return Array.Empty<string>();
        return count >= lines.Count ? lines : lines.Skip(lines.Count - count).ToArray();
    }

    private static JsonElement? ParseResult(string? json)
    {
        if (json is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    protected override void PreRestart(Exception reason, object message)
    {
        // The script dies with this incarnation; the task is reported failed-and-retryable by the next one.
        var process = _process;
        _process = null;
        if (process is not null) _ = process.DisposeAsync().AsTask();
        if (_job is { LeaseLost: not null } lost)
        {
            // A copy of a lost claim: nothing to report; the next incarnation only tells the monitor it is free.
            if (lost.HoldsSlot) ReleaseSlot(lost.Delivery);
            Self.Tell(LostCopyEnded.Instance);
        }
        else if (_job is { Epoch: > 0 } job)
        {
            var spec = job.Delivery.Spec;
            var last = job.Last;
            var result = TaskResult.From(spec, new TaskEnd(TaskState.Failed, null, null, $"guide crashed: {reason.Message}"), job.Attempt,
                TailOf(last?.Lines, spec.ResultLength), ParseResult(last?.ResultJson), job.Delivery.ReceivedAt, job.StartedAt,
                DateTimeOffset.UtcNow, _services.Settings.NodeName, job.Runs);
            Self.Tell(new ReportEndAfterRestart(job, result));
        }
        else if (_job is { } claiming)
        {
            // The claim may land all the same: the next incarnation asks again as the same owner (idempotent), so the task
            // is neither held by nobody nor this guide lost to the monitor, which still counts it busy. A slot it holds is kept.
            Self.Tell(new ClaimAfterRestart(claiming.Delivery with { StoppedBy = claiming.StoppedBy }, claiming.HoldsSlot));
        }
        _job = null; // carried over above; PostStop (called by base.PreRestart) must not give its slot back
        base.PreRestart(reason, message);
    }

    protected override void PostStop()
    {
        if (_process is { } process) _ = process.DisposeAsync().AsTask();
        if (_job is { HoldsSlot: true } job) ReleaseSlot(job.Delivery); // best effort: the node may be stopping
        base.PostStop();
    }

    private sealed record Job(TaskDelivery Delivery, int Attempt, long Epoch, List<IReadOnlyList<string>> RunLines, ScriptSnapshot? Last, DateTimeOffset? StartedAt)
    {
        public int Runs { get; init; }
        public string? StoppedBy { get; init; }
        public bool HandingBack { get; init; }
        /// <summary>Why this node's claim was lost while the task ran here; its copy is being stopped.</summary>
        public string? LeaseLost { get; init; }
        /// <summary>Holds one of its script's maxConcurrentPerCluster slots (released when the guide is done with it).</summary>
        public bool HoldsSlot { get; init; }
    }

    private const string LeaseTimer = "lease";
    private const string SlotTimer = "slot";

    private sealed record SlotAnswer(string Script, string Holder, bool Held, Exception? Error);

    private sealed record ClaimAfterRestart(TaskDelivery Delivery, bool HoldsSlot);

    private sealed class RefreshSlot
    {
        public static readonly RefreshSlot Instance = new();
        private RefreshSlot() { }
    }

    private sealed record ClaimFailed(Exception Error);

    private sealed record RenewFailed(Exception Error);

    private sealed class LostCopyEnded
    {
        public static readonly LostCopyEnded Instance = new();
        private LostCopyEnded() { }
    }

    private sealed class RenewLease
    {
        public static readonly RenewLease Instance = new();
        private RenewLease() { }
    }

    private sealed record ReportFailed(Exception Error);

    private sealed record ReportEndAfterRestart(Job Job, TaskResult Result);

    private sealed record RunSnapshot(int Seq, ScriptSnapshot Snapshot);

    private sealed record RunExited(int Seq, ScriptExit Exit);

    private sealed class NextRun
    {
        public static readonly NextRun Instance = new();
        private NextRun() { }
    }

    private sealed class RetryReport
    {
        public static readonly RetryReport Instance = new();
        private RetryReport() { }
    }

    private sealed class ActorObserver(IActorRef self, int seq) : IScriptObserver
    {
        public void OnSnapshot(ScriptSnapshot snapshot) => self.Tell(new RunSnapshot(seq, snapshot));

        public void OnExit(ScriptExit exit) => self.Tell(new RunExited(seq, exit));
    }
}

/// <summary>A guide finished its task and takes the next.</summary>
public sealed record GuideFree(string GuideId);
