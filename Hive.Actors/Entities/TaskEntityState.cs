using Hive.Actors.Contracts;

namespace Hive.Actors.Entities;

/// <summary>Where a task stands in its life, as the cluster knows it.</summary>
public enum TaskPhase
{
    /// <summary>Never claimed (maybe cancelled ahead of time).</summary>
    New,
    /// <summary>A guide holds the claim and runs it.</summary>
    Claimed,
    /// <summary>Failed; the next attempt is due at <see cref="TaskEntityState.DueAt"/>.</summary>
    RetryScheduled,
    /// <summary>Back on the queue (published, or about to be).</summary>
    Queued,
    Finished,
}

/// <summary>The durable truth about one task. Pure: events in, new state out.</summary>
public sealed record TaskEntityState(
    string TaskId,
    TaskPhase Phase,
    TaskSpec? Spec,
    ClaimOwner? Owner,
    int Attempt,
    long Epoch,
    bool Cancelled,
    string? CancelledBy,
    DateTimeOffset? QueuedAt,
    DateTimeOffset? DueAt,
    TaskResult? LastResult,
    TaskResult? Result,
    bool ResultDelivered,
    bool RequeuePending) : IHiveMessage
{
    public static TaskEntityState Empty(string taskId) =>
        new(taskId, TaskPhase.New, null, null, 0, 0, false, null, null, null, null, null, false, false);

    public int MaxAttempts => Spec?.MaxAttempts ?? 1;

    public bool AttemptsLeft => Attempt < MaxAttempts;

    /// <summary>Whether something still has to happen before the entity may be forgotten by the reaper.</summary>
    public bool HasPendingWork =>
        Phase is TaskPhase.Claimed or TaskPhase.RetryScheduled || RequeuePending || (Phase == TaskPhase.Finished && !ResultDelivered);

    public TaskEntityState Apply(IHiveMessage evt) => evt switch
    {
        TaskEntityEvents.Claimed e => this with
        {
            Phase = TaskPhase.Claimed, Spec = e.Spec, Owner = e.Owner, Attempt = e.Attempt, Epoch = e.Epoch,
            QueuedAt = QueuedAt ?? e.QueuedAt, DueAt = null,
        },
        TaskEntityEvents.RetryScheduled e => this with { Phase = TaskPhase.RetryScheduled, Owner = null, DueAt = e.DueAt, LastResult = e.LastResult },
        TaskEntityEvents.Requeued e => this with
        {
            Phase = TaskPhase.Queued, Owner = null, DueAt = null, RequeuePending = true,
            Attempt = e.RefundAttempt ? Math.Max(0, Attempt - 1) : Attempt,
        },
        TaskEntityEvents.RequeuePublished => this with { RequeuePending = false },
        TaskEntityEvents.Cancelled e => this with { Cancelled = true, CancelledBy = e.By },
        TaskEntityEvents.Finished e => this with { Phase = TaskPhase.Finished, Spec = Spec ?? e.Spec, Owner = null, DueAt = null, Result = e.Result, RequeuePending = false },
        TaskEntityEvents.ResultDelivered => this with { ResultDelivered = true },
        _ => this,
    };
}
