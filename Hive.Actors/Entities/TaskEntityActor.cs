using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Persistence;
using Hive.Actors.Contracts;
using Hive.Actors.Hosting;
using Hive.Actors.Progress;
using static Hive.Actors.Entities.TaskEntityCommands;
using static Hive.Actors.Entities.TaskEntityEvents;
using static Hive.Actors.Entities.TaskEntityReplies;

namespace Hive.Actors.Entities;

/// <summary>
/// The cluster-wide truth about one task (sharded, persisted in the Redis journal): claim and epoch,
/// attempts, cancel flag, result and its delivery. Side effects (requeue, result delivery, retry timer,
/// index upkeep) are derived from the state, so they resume after a crash or a move to another node.
/// </summary>
public sealed class TaskEntityActor : UntypedPersistentActor, IWithTimers
{
    private const int SnapshotEvery = 50;
    /// <summary>How long a requeue or result delivery may stay owed before the reaper wakes its entity (see ReaperActor.Decide).</summary>
    internal static readonly TimeSpan OwedWorkCheckAfter = TimeSpan.FromSeconds(30);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HiveServices _services;
    private readonly IActorRef _status;
    private readonly string _selfUid;
    private TaskEntityState _state;
    private bool _delivering;
    private bool _publishing;
    private bool _indexKnown;
    private OpenTaskEntry? _indexed;
    private long _replayFrom;
    private List<(long SequenceNr, IHiveMessage Event)>? _replayedAfterTruncation;

    public TaskEntityActor(string taskId, HiveServices services, IActorRef statusWriter)
    {
        _services = services;
        _status = statusWriter;
        _selfUid = MemberUid(Cluster.Get(Context.System).SelfUniqueAddress);
        _state = TaskEntityState.Empty(taskId);
        PersistenceId = "task-" + taskId;
    }

    // Plain switches instead of ReceivePersistentActor's Recover<T>/Command<T>: one entity is created per task, and
    // building its typed handler table cost more than the handlers themselves on the claim path.
    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case IHiveMessage evt:
                // Events replayed after a truncated history are kept to be applied again on top of the snapshot.
                if (_replayFrom == 0) _replayFrom = LastSequenceNr;
                if (_replayFrom > 1) (_replayedAfterTruncation ??= []).Add((LastSequenceNr, evt));
                _state = _state.Apply(evt);
                break;
            case RecoveryCompleted:
                if (LastSequenceNr > 0 && _replayFrom != 1)
                {
                    LoadTruncatedHistory();
                    return;
                }
                RunSideEffects();
                PassivateWhenDone();
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case Claim claim: HandleClaim(claim); break;
            case ReportEnd report: HandleReportEnd(report); break;
            case Cancel cancel: HandleCancel(cancel); break;
            case Release release: HandleRelease(release); break;
            case Renew renew: HandleRenew(renew); break;
            case Wake:
                _indexKnown = false;
                SyncIndex();
                RunSideEffects();
                break;
            case GetState:
                Sender.Tell(new StateReply(_state.TaskId, _state.Phase.ToString(), _state.Result?.State,
                    _state.Attempt, _state.Epoch, _state.Owner?.Node, _state.Cancelled));
                break;
            case RetryDue: OnRetryDue(); break;
            case RequeueDone done:
                _publishing = false;
                if (done.Error is null) PersistAndApply(new RequeuePublished());
                else Retry(done.Error, "requeue");
                break;
            case DeliveryDone done:
                _delivering = false;
                if (done.Error is null) PersistAndApply(new ResultDelivered(), PassivateWhenDone);
                else Retry(done.Error, "result delivery");
                break;
            case SideEffectTick: RunSideEffects(); break;
            case SaveSnapshotSuccess saved: DeleteMessages(saved.Metadata.SequenceNr); break;
            case SaveSnapshotFailure failed: _log.Warning(failed.Cause, "Task {TaskId}: snapshot failed", _state.TaskId); break;
            case DeleteMessagesSuccess: break;
            case DeleteMessagesFailure failed: _log.Warning(failed.Cause, "Task {TaskId}: deleting old events failed", _state.TaskId); break;
            default: Unhandled(message); break;
        }
    }

    public override string PersistenceId { get; }

    /// <summary>
    /// No snapshot read on recovery: a task's history is a handful of events, and reading the snapshot store first cost
    /// every fresh task a Redis round trip on its claim path. A history that a snapshot truncated (events up to the
    /// snapshot deleted) is recognised by its first replayed event, and only then is the snapshot loaded.
    /// </summary>
    public override Recovery Recovery { get; } = new(SnapshotSelectionCriteria.None);

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string taskId, HiveServices services, IActorRef statusWriter) =>
        ActorFactory.Props(() => new TaskEntityActor(taskId, services, statusWriter));

    public static string MemberUid(UniqueAddress address) => $"{address.Address}#{address.Uid}";

    private void LoadTruncatedHistory()
    {
        _log.Debug("Task {TaskId}: history truncated before {From}; loading its snapshot", _state.TaskId, _replayFrom);
        SnapshotStore.Tell(new LoadSnapshot(SnapshotterId, SnapshotSelectionCriteria.Latest, LastSequenceNr));
        BecomeStacked(message =>
        {
            switch (message)
            {
                case LoadSnapshotResult loaded:
                    var replayed = _replayedAfterTruncation ?? [];
                    if (loaded.Snapshot?.Snapshot is TaskEntityState snapshot)
                    {
                        var state = snapshot;
                        foreach (var (sequenceNr, evt) in replayed)
                            if (sequenceNr > loaded.Snapshot.Metadata.SequenceNr) state = state.Apply(evt);
                        _state = state;
                    }
                    else
                    {
                        _log.Error("Task {TaskId}: its events before {From} were deleted but no snapshot covers them; going on with the rest",
                            _state.TaskId, _replayFrom);
                    }
                    _replayedAfterTruncation = null;
                    UnbecomeStacked();
                    Stash.UnstashAll();
                    RunSideEffects();
                    PassivateWhenDone();
                    break;
                case LoadSnapshotFailed failed:
                    // Stop rather than act on a partial state; the next message to this task starts it again.
                    _log.Error(failed.Cause, "Task {TaskId}: loading its snapshot failed", _state.TaskId);
                    Context.Stop(Self);
                    break;
                default:
                    Stash.Stash();
                    break;
            }
        });
    }

    private void HandleClaim(Claim claim)
    {
        var sender = Sender;
        switch (_state.Phase)
        {
            case TaskPhase.Finished:
                sender.Tell(new ClaimRefused(claim.TaskId, $"already ended {_state.Result?.State.ToWire()}", _state.Cancelled));
                return;
            case TaskPhase.Claimed when _state.Owner == claim.Owner:
                sender.Tell(new ClaimGranted(claim.TaskId, _state.Attempt, _state.Epoch));
                return;
            case TaskPhase.Claimed:
                sender.Tell(new ClaimRefused(claim.TaskId, $"already running on {_state.Owner?.Node} (a duplicate delivery)", false));
                return;
            case TaskPhase.RetryScheduled when _state.DueAt > DateTimeOffset.UtcNow:
                sender.Tell(new ClaimRefused(claim.TaskId, $"next attempt is due at {_state.DueAt:O}", false));
                return;
        }

        var spec = _state.Spec ?? claim.Spec;
        if (_state.Cancelled)
        {
            var stopped = EntityResult(spec, TaskState.Stopped, $"stopped before it started by {_state.CancelledBy}");
            PersistAndApply(new Finished(stopped, _state.Spec is null ? spec : null), () => sender.Tell(new ClaimRefused(claim.TaskId, stopped.Reason, true)));
            return;
        }
        if (_state.Attempt >= spec.MaxAttempts)
        {
            var dead = EntityResult(spec, TaskState.Dead, $"no attempts left ({_state.Attempt} of {spec.MaxAttempts} spent)");
            PersistAndApply(new Finished(dead), () => sender.Tell(new ClaimRefused(claim.TaskId, dead.Reason, false)));
            return;
        }

        // Index first, persist second: the index may name a claim that never landed, never the reverse.
        var claimed = new Claimed(spec, claim.Owner, _state.Attempt + 1, _state.Epoch + 1, claim.QueuedAt, DateTimeOffset.UtcNow);
        var entry = new OpenTaskEntry("claimed", claim.Owner.MemberUid, 0);
        _services.Index.SetAsync(_state.TaskId, entry)
            .PipeTo(Self, sender, () => new IndexedClaim(claimed, entry), e => new IndexFailed(e));
        BecomeStacked(AwaitingClaimIndex);
    }

    private void AwaitingClaimIndex(object message)
    {
        switch (message)
        {
            case IndexedClaim indexed:
                var sender = Sender;
                UnbecomeStacked();
                (_indexKnown, _indexed) = (true, indexed.Entry);
                PersistAndApply(indexed.Event, () =>
                {
                    sender.Tell(new ClaimGranted(_state.TaskId, _state.Attempt, _state.Epoch));
                    SendAcceptCallback(indexed.Event);
                });
                Stash.UnstashAll();
                break;
            case IndexFailed failed:
                _log.Warning("Task {TaskId}: indexing the claim failed: {Error}", _state.TaskId, failed.Error.Message);
                UnbecomeStacked();
                Sender.Tell(new Status.Failure(failed.Error));
                Stash.UnstashAll();
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    private void HandleReportEnd(ReportEnd end)
    {
        var sender = Sender;
        if (_state.Phase == TaskPhase.Finished && _state.Result?.Attempt == end.Result.Attempt)
        {
            sender.Tell(new EndRecorded(end.TaskId, _state.Result.State, false));
            return;
        }
        if (_state.Phase != TaskPhase.Claimed || end.Epoch != _state.Epoch)
        {
            sender.Tell(new EndRefused(end.TaskId, $"stale claim: epoch {end.Epoch}, current {_state.Epoch} ({_state.Phase})"));
            return;
        }

        if (end.Kind == EndKind.HandBack && !_state.Cancelled)
        {
            PersistAndApply(new Requeued("handed back by a draining node", true, DateTimeOffset.UtcNow),
                () => sender.Tell(new EndRecorded(end.TaskId, TaskState.Queued, true)));
            return;
        }
        if (end.Kind == EndKind.Retryable && _state.AttemptsLeft && !_state.Cancelled)
        {
            var due = DateTimeOffset.UtcNow + _services.Settings.RetryDelay(_state.Attempt + 1, _state.Spec?.RetryBackoffSeconds);
            PersistAndApply(new RetryScheduled(end.Result, due), () => sender.Tell(new EndRecorded(end.TaskId, end.Result.State, true)));
            return;
        }
        PersistAndApply(new Finished(end.Result), () => sender.Tell(new EndRecorded(end.TaskId, end.Result.State, false)));
    }

    private void HandleCancel(Cancel cancel)
    {
        if (_state.Phase == TaskPhase.Finished || _state.Cancelled) return;
        PersistAndApply(new Cancelled(cancel.By, DateTimeOffset.UtcNow), () =>
        {
            if (_state.Phase == TaskPhase.RetryScheduled && _state.Spec is { } spec)
                PersistAndApply(new Finished(EntityResult(spec, TaskState.Stopped, $"stopped by {cancel.By} while waiting to retry")));
        });
    }

    /// <summary>
    /// The lease: lost when this entity knows of something later than the renewing claim (released, requeued, ended, or
    /// claimed again) or of another owner's claim. An entity that knows less than the owner (its history gone, no claim
    /// since) does not make it kill a run.
    /// </summary>
    private void HandleRenew(Renew renew)
    {
        var lost = _state.Epoch > renew.Epoch || (_state.Phase == TaskPhase.Claimed && _state.Owner != renew.Owner)
            ? $"claimed again (epoch {_state.Epoch}) by {_state.Owner?.Node}"
            : _state.Epoch == renew.Epoch && _state.Phase != TaskPhase.Claimed
                ? "the claim was given up: the task " + _state.Phase switch
                {
                    TaskPhase.Finished => $"ended {_state.Result?.State.ToWire()}",
                    TaskPhase.RetryScheduled => "waits to be retried",
                    _ => "went back to the queue",
                }
                : null;
        Sender.Tell(lost is null ? new LeaseHeld(renew.TaskId, renew.Epoch) : new LeaseLost(renew.TaskId, renew.Epoch, lost));
    }

    private void HandleRelease(Release release)
    {
        if (_state.Phase != TaskPhase.Claimed || _state.Owner?.MemberUid != release.MemberUid)
        {
            _indexKnown = false;
            SyncIndex();
            RunSideEffects();
            return;
        }
        var spec = _state.Spec!;
        if (_state.Cancelled)
            PersistAndApply(new Finished(EntityResult(spec, TaskState.Stopped, $"stopped by {_state.CancelledBy}; its node was lost")));
        else if (_state.AttemptsLeft)
            PersistAndApply(new Requeued($"node lost: {release.Reason}", false, DateTimeOffset.UtcNow));
        else
            PersistAndApply(new Finished(EntityResult(spec, TaskState.Dead, $"node lost on attempt {_state.Attempt} of {spec.MaxAttempts}: {release.Reason}")));
    }

    private void OnRetryDue()
    {
        if (_state.Phase != TaskPhase.RetryScheduled) return;
        if (_state.DueAt > DateTimeOffset.UtcNow)
        {
            Timers.StartSingleTimer("retry", RetryDue.Instance, _state.DueAt.Value - DateTimeOffset.UtcNow);
            return;
        }
        PersistAndApply(new Requeued($"retry after: {_state.LastResult?.Reason}", false, DateTimeOffset.UtcNow));
    }

    private void PersistAndApply(IHiveMessage evt, Action? then = null)
    {
        Persist(evt, e =>
        {
            _state = _state.Apply(e);
            then?.Invoke();
            SyncIndex();
            RunSideEffects();
            if (LastSequenceNr % SnapshotEvery == 0) SaveSnapshot(_state);
        });
    }

    /// <summary>
    /// A task that ended and whose result was delivered owes nothing more: leave memory at once (sharding passivation;
    /// the shard buffers what arrives meanwhile) instead of after the idle default, so a node draining a deep queue
    /// holds only its running tasks. A later message (a duplicate delivery, a status query) recovers it from the journal.
    /// </summary>
    private void PassivateWhenDone()
    {
        if (_state is { Phase: TaskPhase.Finished, ResultDelivered: true }) Context.Parent.Tell(new Akka.Cluster.Sharding.Passivate(PoisonPill.Instance));
    }

    /// <summary>Starts whatever the state still owes the world; each is idempotent and retried.</summary>
    private void RunSideEffects()
    {
        if (_state.Phase == TaskPhase.RetryScheduled && _state.DueAt is { } due)
        {
            var delay = due - DateTimeOffset.UtcNow;
            Timers.StartSingleTimer("retry", RetryDue.Instance, delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
            WriteStatus(TaskState.Queued, $"attempt {_state.Attempt} of {_state.MaxAttempts} failed ({_state.LastResult?.Reason}); retry at {due:O}", "retry-scheduled");
        }
        if (_state.RequeuePending && !_publishing && _state.Spec is { } spec)
        {
            _publishing = true;
            _services.Bus.RequeueTaskAsync(spec).PipeTo(Self, success: () => new RequeueDone(null), failure: e => new RequeueDone(e));
            WriteStatus(TaskState.Queued, "back on the queue", "requeued");
        }
        if (_state.Phase == TaskPhase.Finished && !_state.ResultDelivered && !_delivering && _state.Result is { } result)
        {
            _delivering = true;
            if (result.Node is null) WriteStatus(result.State, result.Reason, "finished");
            DeliverResultAsync(_state.Spec, result).PipeTo(Self, success: () => new DeliveryDone(null), failure: e => new DeliveryDone(e));
        }
    }

    /// <summary>
    /// Publishes the result (retried by the entity until the broker confirms it), then POSTs it to responseUrl. The POST
    /// has its own retries (hive.callbacks.max-attempts, with backoff); once they are spent the callback is given up and
    /// logged: retrying it from here would publish the result again every time, for as long as the backend refuses.
    /// </summary>
    private async Task DeliverResultAsync(TaskSpec? spec, TaskResult result)
    {
        await _services.Bus.PublishResultAsync(result, spec?.ReplyTo, result.TaskId);
        if (spec?.ResponseUrl is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out var uri)) return;
        var body = CallbackBodies.Finished(spec, result);
        try
        {
            await _services.Callbacks.PostAsync(uri, body, CallbackBodies.IdempotencyKey(result.TaskId, result.Attempt, "finished"));
        }
        catch (Exception e)
        {
            _log.Warning("Task {TaskId}: result callback given up after {Attempts} attempts (the result is in Redis and on {Exchange}): {Error}",
                result.TaskId, _services.Settings.CallbackMaxAttempts, _services.Settings.ResultsExchange, e.GetBaseException().Message);
        }
    }

    private void SendAcceptCallback(Claimed claimed)
    {
        if (claimed.Spec.AcceptUrl is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out var uri)) return;
        var body = CallbackBodies.Accepted(claimed.Spec, claimed.Owner.Node, claimed.Attempt);
        var log = _log;
        var taskId = _state.TaskId;
        _services.Callbacks.PostAsync(uri, body, CallbackBodies.IdempotencyKey(taskId, claimed.Attempt, "accepted"))
            .ContinueWith(t => log.Warning("Task {TaskId}: accept callback failed: {Error}", taskId, t.Exception?.GetBaseException().Message),
                TaskContinuationOptions.OnlyOnFaulted);
    }

    private void Retry(Exception error, string what)
    {
        _log.Warning("Task {TaskId}: {What} failed, retrying in 2 s: {Error}", _state.TaskId, what, error.GetBaseException().Message);
        Timers.StartSingleTimer("side-effects", SideEffectTick.Instance, TimeSpan.FromSeconds(2));
    }

    private void SyncIndex()
    {
        var entry = _state switch
        {
            { Phase: TaskPhase.Claimed, Owner: { } owner } => new OpenTaskEntry("claimed", owner.MemberUid, 0),
            { Phase: TaskPhase.RetryScheduled, DueAt: { } due } => new OpenTaskEntry("retry", _selfUid, due.ToUnixTimeMilliseconds()),
            // A check time for the reaper: should this entity stop before the work is done (passivated while a publish
            // kept failing), it is woken then; a live entity just re-indexes with a new check time.
            { RequeuePending: true } => new OpenTaskEntry("requeue", _selfUid, OwedWorkCheckAt()),
            { Phase: TaskPhase.Finished, ResultDelivered: false } => new OpenTaskEntry("deliver", _selfUid, OwedWorkCheckAt()),
            _ => null,
        };
        // Skip a write that would not change the index (the claim's entry is written before the claim is persisted).
        if (_indexKnown && entry == _indexed) return;
        (_indexKnown, _indexed) = (true, entry);
        var write = entry is null ? _services.Index.RemoveAsync(_state.TaskId) : _services.Index.SetAsync(_state.TaskId, entry);
        var log = _log;
        var taskId = _state.TaskId;
        write.ContinueWith(t => log.Warning("Task {TaskId}: index update failed: {Error}", taskId, t.Exception?.GetBaseException().Message),
            TaskContinuationOptions.OnlyOnFaulted);
    }

    private static long OwedWorkCheckAt() => DateTimeOffset.UtcNow.Add(OwedWorkCheckAfter).ToUnixTimeMilliseconds();

    private void WriteStatus(TaskState state, string reason, string evt)
    {
        var spec = _state.Spec;
        var result = _state.Result;
        _status.Tell(new StatusUpdate(new TaskStatusDocument(_state.TaskId, spec?.Script, state, null, null, _state.Attempt,
            null, null, result?.Lines ?? Array.Empty<string>(), 0, _state.QueuedAt, null, DateTimeOffset.UtcNow,
            result?.ExitCode, reason, result?.Result, null), evt));
    }

    private TaskResult EntityResult(TaskSpec spec, TaskState state, string reason) =>
        new(spec.TaskId, spec.Script, state, null, null, reason, _state.Attempt, spec.MaxAttempts,
            _state.LastResult?.Lines ?? Array.Empty<string>(), null, _state.QueuedAt, null, DateTimeOffset.UtcNow, null, 0, null);

    // Local-only results of piped tasks (exceptions, unpersisted events): never serialized, not even under serialize-messages.
    private sealed record IndexedClaim(Claimed Event, OpenTaskEntry Entry) : INoSerializationVerificationNeeded;

    private sealed record IndexFailed(Exception Error) : INoSerializationVerificationNeeded;

    private sealed record RequeueDone(Exception? Error) : INoSerializationVerificationNeeded;

    private sealed record DeliveryDone(Exception? Error) : INoSerializationVerificationNeeded;

    private sealed class RetryDue : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly RetryDue Instance = new();
        private RetryDue() { }
    }

    private sealed class SideEffectTick : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly SideEffectTick Instance = new();
        private SideEffectTick() { }
    }
}
