using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hive.Client;

/// <summary>A task's state, as on the wire: <c>queued, accepted, running, paused, succeeded, failed, stopped, timed-out, rejected, dead</c>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HiveTaskState>))]
public enum HiveTaskState
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("accepted")] Accepted,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("paused")] Paused,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("stopped")] Stopped,
    [JsonStringEnumMemberName("timed-out")] TimedOut,
    [JsonStringEnumMemberName("rejected")] Rejected,
    [JsonStringEnumMemberName("dead")] Dead,
}

/// <summary>Helpers over <see cref="HiveTaskState"/>.</summary>
public static class HiveTaskStates
{
    /// <summary>True for the states a task never leaves: succeeded, failed, stopped, timed-out, rejected, dead.</summary>
    public static bool IsFinal(this HiveTaskState state) => state is
        HiveTaskState.Succeeded or HiveTaskState.Failed or HiveTaskState.Stopped or
        HiveTaskState.TimedOut or HiveTaskState.Rejected or HiveTaskState.Dead;

    /// <summary>The wire name, e.g. <c>timed-out</c>.</summary>
    public static string ToWire(this HiveTaskState state) => state switch
    {
        HiveTaskState.TimedOut => "timed-out",
        _ => state.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// A task to submit (the Hive task contract). Only <see cref="Script"/> is required; without <see cref="TaskId"/>
/// the node assigns one. Unset numbers take the node's defaults.
/// </summary>
/// <param name="Script">Script name in the node's <c>tasks/</c> folder, without extension.</param>
/// <param name="Args">Any JSON value handed to the script (argv[1] <c>action</c>); null = <c>{}</c>.</param>
/// <param name="TaskId">1–128 characters of <c>[A-Za-z0-9_.:-]</c>; null = a new id chosen by the node.</param>
public sealed record TaskRequest(string Script, JsonElement? Args = null, string? TaskId = null)
{
    /// <summary>POSTed to when a node accepts the task.</summary>
    public string? AcceptUrl { get; init; }

    /// <summary>POSTed to with the result.</summary>
    public string? ResponseUrl { get; init; }

    /// <summary>Seconds before the script is stopped and the task ends <c>timed-out</c>.</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>Attempts before a failing task ends <c>failed</c>.</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Runs of the script (-1 = forever).</summary>
    public int? Loop { get; init; }

    /// <summary>Seconds between runs.</summary>
    public double? Interval { get; init; }

    /// <summary>Last N output lines kept in the status document.</summary>
    public int? ProgressLength { get; init; }

    /// <summary>Last N output lines of each run kept in the result.</summary>
    public int? ResultLength { get; init; }

    /// <summary>Builds a request whose args are <paramref name="args"/> serialized with System.Text.Json (camelCase).</summary>
    public static TaskRequest For(string script, object? args = null, string? taskId = null) =>
        new(script, args is null ? null : JsonSerializer.SerializeToElement(args, HiveJson.Options), taskId);
}

/// <summary>The answer to a submit: the task is on the queue (the broker confirmed it).</summary>
public sealed record TaskAccepted(string TaskId);

/// <summary>The answer to a control command: it was broadcast to every node.</summary>
public sealed record ControlAccepted(string TaskId, string Action);

/// <summary>A task's live status document (Redis <c>hive:task:&lt;id&gt;</c>).</summary>
public sealed record HiveTaskStatus(
    string TaskId,
    string? Script,
    HiveTaskState State,
    string? Node,
    string? Guide,
    int Attempt,
    double? Progress,
    string? Stage,
    IReadOnlyList<string> Lines,
    long TotalLines,
    DateTimeOffset? QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset UpdatedAt,
    int? ExitCode,
    string? Reason,
    JsonElement? Result,
    int? Pid);

/// <summary>Which tasks to list. Filters are exact matches; pages are newest first.</summary>
public sealed record TaskFilter(HiveTaskState? State = null, string? Script = null, string? Node = null, int Offset = 0, int Limit = 50);

/// <summary>One page of tasks, newest first; <see cref="Total"/> counts every match.</summary>
public sealed record TaskPage(IReadOnlyList<HiveTaskStatus> Items, int Total, int Offset, int Limit);

/// <summary>One guide (script slot) of a node.</summary>
public sealed record GuideInfo(string Guide, string State, string? TaskId, int? Pid, DateTimeOffset? Heartbeat);

/// <summary>A node that reported its guides recently.</summary>
/// <param name="Info">What the node reports about itself (admission gate, CPU and memory load, draining), when it does.</param>
public sealed record NodeInfo(string Node, IReadOnlyList<GuideInfo> Guides, JsonElement? Info = null);

/// <summary>The output lines a task's status keeps (the last <c>progressLength</c>), and how many it printed.</summary>
public sealed record TaskLogs(string TaskId, HiveTaskState State, IReadOnlyList<string> Lines, long TotalLines);

/// <summary>One entry of the <c>hive:events</c> stream (started, paused, resumed, finished, requeued, …).</summary>
/// <param name="Id">The stream entry id; pass it as <c>from</c> to resume after it.</param>
public sealed record HiveEvent(string Id, string Event, string TaskId, HiveTaskState? State, string? Node, int? Attempt, string? Reason);

/// <summary>The body of every error answer: <c>{"error": "…"}</c>.</summary>
public sealed record ApiError(string Error);

/// <summary>The JSON options of the API: camelCase, enums by wire name.</summary>
public static class HiveJson
{
    /// <summary>Shared, read-only options.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
