using Hive.Actors.Contracts;

namespace Hive.Actors.Entities;

/// <summary>Every message addressed to a TaskEntity; drives the shard extractor.</summary>
public interface IWithTaskId
{
    string TaskId { get; }
}

/// <summary>Marker for messages and events that cross the network or are persisted: bound to <see cref="Serialization.HiveMessageSerializer"/>.</summary>
public interface IHiveMessage;

/// <summary>Who holds a claim: node name, the cluster member's unique address (dies with the process) and the guide's path.</summary>
public sealed record ClaimOwner(string Node, string MemberUid, string GuidePath);

public static class TaskEntityCommands
{
    /// <summary>A guide asks to run the task. Idempotent for the same owner.</summary>
    public sealed record Claim(string TaskId, TaskSpec Spec, ClaimOwner Owner, DateTimeOffset QueuedAt) : IWithTaskId, IHiveMessage;

    /// <summary>The owner reports the end of its run (all loops). Stale epochs are refused.</summary>
    public sealed record ReportEnd(string TaskId, long Epoch, TaskResult Result, EndKind Kind) : IWithTaskId, IHiveMessage;

    /// <summary>A stop for a task: a queued task will never run; a running one is stopped by its owner's guide.</summary>
    public sealed record Cancel(string TaskId, string By) : IWithTaskId, IHiveMessage;

    /// <summary>The reaper saw the claim's owner leave the cluster.</summary>
    public sealed record Release(string TaskId, string MemberUid, string Reason) : IWithTaskId, IHiveMessage;

    /// <summary>Wakes the entity so it finishes pending work (due retry, undelivered result, unpublished requeue).</summary>
    public sealed record Wake(string TaskId) : IWithTaskId, IHiveMessage;

    public sealed record GetState(string TaskId) : IWithTaskId, IHiveMessage;

    /// <summary>The owner of a running claim asks whether the claim (the lease) is still its own: LeaseHeld or LeaseLost.</summary>
    public sealed record Renew(string TaskId, ClaimOwner Owner, long Epoch) : IWithTaskId, IHiveMessage;

}

/// <summary>How a run ended, as far as retries are concerned.</summary>
public enum EndKind
{
    /// <summary>Final whatever the attempts left (success, stop, timeout, rejection).</summary>
    Final,
    /// <summary>A failure that spends an attempt and is retried while attempts remain.</summary>
    Retryable,
    /// <summary>Handed back by a draining node: runs again without spending an attempt.</summary>
    HandBack,
}

public static class TaskEntityReplies
{
    public sealed record ClaimGranted(string TaskId, int Attempt, long Epoch) : IHiveMessage;

    public sealed record ClaimRefused(string TaskId, string Reason, bool Cancelled) : IHiveMessage;

    public sealed record EndRecorded(string TaskId, TaskState State, bool WillRetry) : IHiveMessage;

    public sealed record EndRefused(string TaskId, string Reason) : IHiveMessage;

    public sealed record LeaseHeld(string TaskId, long Epoch) : IHiveMessage;

    /// <summary>The claim of that epoch was released, ended or superseded: its owner must stop its copy.</summary>
    public sealed record LeaseLost(string TaskId, long Epoch, string Reason) : IHiveMessage;

    public sealed record StateReply(string TaskId, string Phase, TaskState? State, int Attempt, long Epoch, string? OwnerNode, bool Cancelled) : IHiveMessage;
}

public static class TaskEntityEvents
{
    public sealed record Claimed(TaskSpec Spec, ClaimOwner Owner, int Attempt, long Epoch, DateTimeOffset QueuedAt, DateTimeOffset At) : IHiveMessage;

    public sealed record RetryScheduled(TaskResult LastResult, DateTimeOffset DueAt) : IHiveMessage;

    /// <summary>The task goes back on the queue; <c>RefundAttempt</c> when it was handed back, not failed.</summary>
    public sealed record Requeued(string Reason, bool RefundAttempt, DateTimeOffset At) : IHiveMessage;

    public sealed record RequeuePublished : IHiveMessage;

    public sealed record Cancelled(string By, DateTimeOffset At) : IHiveMessage;

    /// <summary>The task ended; <c>Spec</c> is set when the entity never saw a claim (a task cancelled before it started), so the result still reaches its reply-to and responseUrl.</summary>
    public sealed record Finished(TaskResult Result, TaskSpec? Spec = null) : IHiveMessage;

    public sealed record ResultDelivered : IHiveMessage;
}
