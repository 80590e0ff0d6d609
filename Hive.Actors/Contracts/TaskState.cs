namespace Hive.Actors.Contracts;

/// <summary>Which message shape a task arrived in; decides the shape of its callbacks.</summary>
public enum TaskShape
{
    /// <summary>Hive's own task message (<c>taskId</c>, <c>script</c>, <c>args</c>, ...).</summary>
    Hive,

    /// <summary>The seed's mission message (<c>missionId</c>, <c>target</c>: {<c>command</c>, <c>loop</c>, ...}).</summary>
    Seed,
}

/// <summary>The life cycle of a task. On the wire (JSON, Redis, callbacks) use <see cref="TaskStateWire.ToWire"/>.</summary>
public enum TaskState
{
    Queued,
    Accepted,
    Running,
    Paused,
    Succeeded,
    Failed,
    Stopped,
    TimedOut,
    Rejected,
    Dead,
}

/// <summary>Wire names of <see cref="TaskState"/>: <c>queued, accepted, running, paused, succeeded, failed, stopped, timed-out, rejected, dead</c>.</summary>
public static class TaskStateWire
{
    /// <summary>The wire name of <paramref name="state"/>, e.g. <c>timed-out</c>.</summary>
    public static string ToWire(this TaskState state) => state switch
    {
        TaskState.Queued => "queued",
        TaskState.Accepted => "accepted",
        TaskState.Running => "running",
        TaskState.Paused => "paused",
        TaskState.Succeeded => "succeeded",
        TaskState.Failed => "failed",
        TaskState.Stopped => "stopped",
        TaskState.TimedOut => "timed-out",
        TaskState.Rejected => "rejected",
        TaskState.Dead => "dead",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "unknown task state"),
    };

    /// <summary>True for the states a task never leaves: succeeded, failed, stopped, timed-out, rejected, dead.</summary>
    public static bool IsFinal(this TaskState state) => state is
        TaskState.Succeeded or TaskState.Failed or TaskState.Stopped or
        TaskState.TimedOut or TaskState.Rejected or TaskState.Dead;

    /// <summary>Parses a wire name (exact, lower case). Throws <see cref="FormatException"/> for anything else.</summary>
    public static TaskState Parse(string wire) =>
        TryParse(wire, out var state)
            ? state
            : throw new FormatException(
                $"'{wire}' is not a task state; expected one of queued, accepted, running, paused, succeeded, failed, stopped, timed-out, rejected, dead");

    /// <summary>Parses a wire name (exact, lower case).</summary>
    public static bool TryParse(string? wire, out TaskState state)
    {
        switch (wire)
        {
            case "queued": state = TaskState.Queued; return true;
            case "accepted": state = TaskState.Accepted; return true;
            case "running": state = TaskState.Running; return true;
            case "paused": state = TaskState.Paused; return true;
            case "succeeded": state = TaskState.Succeeded; return true;
            case "failed": state = TaskState.Failed; return true;
            case "stopped": state = TaskState.Stopped; return true;
            case "timed-out": state = TaskState.TimedOut; return true;
            case "rejected": state = TaskState.Rejected; return true;
            case "dead": state = TaskState.Dead; return true;
            default: state = default; return false;
        }
    }
}
