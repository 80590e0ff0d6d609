using System.Text.Json;

namespace Hive.Actors.Contracts;

/// <summary>
/// The JSON of a <see cref="TaskResult"/> as published to the topic exchange <c>hive.results</c> (routing key = script)
/// and to the task's reply-to: <c>{"taskId","script","state","exitCode","signal","reason","attempt","maxAttempts","lines",
/// "result","queuedAt","startedAt","endedAt","node","runs","runLines"}</c>, camelCase, state in wire form, times ISO 8601.
/// </summary>
public static class ResultMessages
{
    public static byte[] ToJson(TaskResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return JsonBytes.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("taskId", r.TaskId);
            w.WriteString("script", r.Script);
            w.WriteString("state", r.State.ToWire());
            w.NumberOrNull("exitCode", r.ExitCode);
            w.NumberOrNull("signal", r.Signal);
            w.WriteString("reason", r.Reason);
            w.WriteNumber("attempt", r.Attempt);
            w.WriteNumber("maxAttempts", r.MaxAttempts);
            w.Lines("lines", r.Lines);
            w.ElementOrNull("result", r.Result);
            w.TimeOrNull("queuedAt", r.QueuedAt);
            w.TimeOrNull("startedAt", r.StartedAt);
            w.TimeOrNull("endedAt", r.EndedAt);
            w.WriteString("node", r.Node);
            w.WriteNumber("runs", r.Runs);
            if (r.RunLines is null) w.WriteNull("runLines");
            else
            {
                w.WriteStartArray("runLines");
                foreach (var run in r.RunLines)
                {
                    w.WriteStartArray();
                    foreach (var line in run) w.WriteStringValue(line);
                    w.WriteEndArray();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        });
    }

    /// <summary>Reads a result message; null when it is not one (not JSON, or taskId/state/reason missing or wrong).</summary>
    public static TaskResult? FromJson(ReadOnlySpan<byte> json)
    {
        using var document = JsonBytes.TryParseObject(json);
        if (document is null) return null;
        var root = document.RootElement;

        var taskId = root.String("taskId");
        var reason = root.String("reason");
        if (taskId is null || reason is null || !TaskStateWire.TryParse(root.String("state"), out var state)) return null;

        List<IReadOnlyList<string>>? runLines = null;
        if (root.TryGetProperty("runLines", out var runs) && runs.ValueKind == JsonValueKind.Array)
        {
            runLines = new List<IReadOnlyList<string>>(runs.GetArrayLength());
            foreach (var run in runs.EnumerateArray())
            {
                if (run.ValueKind != JsonValueKind.Array || JsonBytes.StringList(run) is not { } lines) return null;
                runLines.Add(lines);
            }
        }

        return new TaskResult(
            taskId, root.String("script"), state, root.Int("exitCode"), root.Int("signal"), reason,
            root.Int("attempt") ?? 0, root.Int("maxAttempts") ?? 0, root.StringList("lines") ?? [],
            root.Element("result"), root.Time("queuedAt"), root.Time("startedAt"), root.Time("endedAt"),
            root.String("node"), root.Int("runs") ?? 0, runLines);
    }
}
