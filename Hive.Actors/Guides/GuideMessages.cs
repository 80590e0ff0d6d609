using Hive.Actors.Contracts;

namespace Hive.Actors.Guides;

/// <summary>A task taken off the queue, not yet acknowledged: the guide acks once its claim is persisted.</summary>
/// <param name="PerNodeLimit">The script manifest's <c>maxConcurrentPerNode</c> as read when the task was accepted, or null.</param>
/// <param name="PerClusterLimit">The script manifest's <c>maxConcurrentPerCluster</c> as read when the task was accepted, or null.</param>
public sealed record TaskDelivery(TaskSpec Spec, DateTimeOffset ReceivedAt, Func<Task> Ack, Func<bool, Task> Nack, int? PerNodeLimit = null,
    int? PerClusterLimit = null)
{
    /// <summary>Since when the delivery has been waiting on this node for a slot of its script in the cluster, if it has.</summary>
    public DateTimeOffset? SlotWaitSince { get; init; }

    /// <summary>Who stopped the task while its delivery waited on this node: the guide claims it only to end it stopped.</summary>
    public string? StoppedBy { get; init; }

    /// <summary>The script manifest's <c>expectedCpu</c> (cores), read when the task was accepted; admission weighs it.</summary>
    public double? ExpectedCpu { get; init; }

    /// <summary>The script manifest's <c>expectedMemoryMb</c>, read when the task was accepted; admission weighs it.</summary>
    public long? ExpectedMemoryMb { get; init; }
}

/// <summary>Guide → monitor: every cluster slot of the delivery's script is held; the guide is free, the delivery waits on the node.</summary>
public sealed record ClusterSlotsTaken(string GuideId, TaskDelivery Delivery);

public static class GuideCommands
{
    public sealed record Run(TaskDelivery Delivery);

    public sealed record Control(ControlCommand Command);

    /// <summary>Draining: stop the running script and hand the task back without spending an attempt.</summary>
    public sealed class HandBack
    {
        public static readonly HandBack Instance = new();
        private HandBack() { }
    }

    /// <summary>Fault injection for tests (hive.node.allow-fault-injection): the guide throws.</summary>
    public sealed class Crash
    {
        public static readonly Crash Instance = new();
        private Crash() { }
    }
}

public enum GuideState
{
    Idle,
    Claiming,
    Running,
    Paused,
    Reporting,
}

/// <summary>What a guide tells its monitor whenever it changes; the monitor publishes it (hive:node:&lt;node&gt;).</summary>
public sealed record GuideStatus(string GuideId, GuideState State, string? TaskId, int? Pid, DateTimeOffset At)
{
    public bool IsFree => State == GuideState.Idle;
}

/// <summary>Raised by the fault-injection command.</summary>
public sealed class InjectedGuideFault() : Exception("injected guide fault (hive.node.allow-fault-injection)");

/// <summary>Raised by the monitor's fault-injection command.</summary>
public sealed class InjectedMonitorFault() : Exception("injected monitor fault (hive.node.allow-fault-injection)");
