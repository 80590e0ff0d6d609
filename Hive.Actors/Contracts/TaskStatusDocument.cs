using System.Text;
using System.Text.Json;

namespace Hive.Actors.Contracts;

/// <summary>The value of the Redis key <c>hive:task:&lt;taskId&gt;</c>: a task's live status.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Script">Script name (null for a command).</param>
/// <param name="State">Current state.</param>
/// <param name="Node">Node running it.</param>
/// <param name="Guide">Guide (slot) on that node.</param>
/// <param name="Attempt">Attempt, 1-based.</param>
/// <param name="Progress">Last <c>##hive {"progress": …}</c> value (0–100 by convention).</param>
/// <param name="Stage">Last <c>##hive {"stage": …}</c> value.</param>
/// <param name="Lines">Last <c>progressLength</c> output lines.</param>
/// <param name="TotalLines">Output lines seen so far.</param>
/// <param name="QueuedAt">When the task was first seen.</param>
/// <param name="StartedAt">When this attempt started.</param>
/// <param name="UpdatedAt">When this document was written.</param>
/// <param name="ExitCode">Exit code once ended.</param>
/// <param name="Reason">End reason once ended.</param>
/// <param name="Result">The script's result object.</param>
/// <param name="Pid">Process id of the running script.</param>
public sealed record TaskStatusDocument(
    string TaskId,
    string? Script,
    TaskState State,
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

/// <summary>
/// JSON of <see cref="TaskStatusDocument"/>: camelCase, state in wire form, times ISO 8601, nulls written as null:
/// <c>{"taskId","script","state","node","guide","attempt","progress","stage","lines","totalLines","queuedAt","startedAt",
/// "updatedAt","exitCode","reason","result","pid"}</c>.
/// </summary>
public static class TaskStatusJson
{
    public static string ToJson(TaskStatusDocument d) => Encoding.UTF8.GetString(ToUtf8(d));

    public static byte[] ToUtf8(TaskStatusDocument d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return JsonBytes.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("taskId", d.TaskId);
            w.WriteString("script", d.Script);
            w.WriteString("state", d.State.ToWire());
            w.WriteString("node", d.Node);
            w.WriteString("guide", d.Guide);
            w.WriteNumber("attempt", d.Attempt);
            w.NumberOrNull("progress", d.Progress);
            w.WriteString("stage", d.Stage);
            w.Lines("lines", d.Lines);
            w.WriteNumber("totalLines", d.TotalLines);
            w.TimeOrNull("queuedAt", d.QueuedAt);
            w.TimeOrNull("startedAt", d.StartedAt);
            w.WriteString("updatedAt", d.UpdatedAt);
            w.NumberOrNull("exitCode", d.ExitCode);
            w.WriteString("reason", d.Reason);
            w.ElementOrNull("result", d.Result);
            w.NumberOrNull("pid", d.Pid);
            w.WriteEndObject();
        });
    }

    /// <summary>Reads a status document; null when it is not one (taskId, state or updatedAt missing or wrong).</summary>
    public static TaskStatusDocument? FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return FromUtf8(Encoding.UTF8.GetBytes(json));
    }

    public static TaskStatusDocument? FromUtf8(ReadOnlySpan<byte> json)
    {
        using var document = JsonBytes.TryParseObject(json);
        if (document is null) return null;
        var root = document.RootElement;
        var taskId = root.String("taskId");
        var updatedAt = root.Time("updatedAt");
        if (taskId is null || updatedAt is null || !TaskStateWire.TryParse(root.String("state"), out var state)) return null;

        return new TaskStatusDocument(
            taskId, root.String("script"), state, root.String("node"), root.String("guide"), root.Int("attempt") ?? 0,
            root.Double("progress"), root.String("stage"), root.StringList("lines") ?? [], root.Long("totalLines") ?? 0,
            root.Time("queuedAt"), root.Time("startedAt"), updatedAt.Value, root.Int("exitCode"), root.String("reason"),
            root.Element("result"), root.Int("pid"));
    }
}
