using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;

namespace Hive.Actors.Contracts;

/// <summary>What a control message asks of a task (or, for <see cref="Drain"/>, of a node).</summary>
public enum ControlAction
{
    /// <summary>Stop the task (a queued task is marked cancelled and never runs).</summary>
    Stop,

    /// <summary>Pause the script (SIGSTOP to its process group).</summary>
    Pause,

    /// <summary>Resume a paused script (SIGCONT); the seed calls it <c>start</c>.</summary>
    Resume,

    /// <summary>Write <see cref="ControlCommand.Data"/> as one JSON line to the script's stdin; the seed calls it <c>update</c>.</summary>
    Message,

    /// <summary>
    /// Drain the node named by <see cref="ControlCommand.Target"/> (Hive shape only: <c>{"action": "drain", "node": …}</c>):
    /// it stops taking tasks, lets running ones finish within <c>hive.node.drain-timeout</c>, hands back the rest and
    /// exits (code 0), as on SIGTERM.
    /// </summary>
    Drain,
}

/// <summary>A parsed control message.</summary>
/// <param name="Target">A task id, or <see cref="ControlCommand.All"/> for every task on every node; for <see cref="ControlAction.Drain"/>, a node name.</param>
/// <param name="Action">What to do.</param>
/// <param name="Data">For <see cref="ControlAction.Message"/>: the JSON written to the script's stdin (a detached clone).</param>
/// <param name="By">Who asked (free text, shown in the stop reason), when given.</param>
public sealed record ControlCommand(string Target, ControlAction Action, JsonElement? Data, string? By)
{
    /// <summary>The target that addresses every task.</summary>
    public const string All = "all";

    public bool TargetsAll => Target == All;

    /// <summary>True when this command is meant for <paramref name="taskId"/>.</summary>
    public bool Targets(string taskId) => TargetsAll || Target == taskId;
}

/// <summary>
/// Parses control messages of both shapes.
/// Hive (exchange <c>hive.control</c>): <c>{"taskId": "&lt;id&gt;" | "all", "action": "stop" | "pause" | "resume" | "message", "data": …, "by": "…"}</c>,
/// or <c>{"action": "drain", "node": "&lt;node name&gt;", "by": "…"}</c>.
/// Seed (exchange <c>hive</c>, key <c>hive.state</c>): <c>{"action": "stop" | "pause" | "start" | "update"}</c>, target = AMQP
/// correlation-id (mission id or <c>all</c>), else the body's <c>missionId</c>. The seed's guide hands an <c>update</c> body
/// as a whole to the running mission, so <see cref="ControlCommand.Data"/> is the body's <c>data</c> when present, else the whole body.
/// Action names are matched case-insensitively and each shape also accepts the other's names.
/// </summary>
public static class ControlParser
{
    public const int MaxBodyBytes = 1024 * 1024;

    private const string InvalidEscape = "body is not valid JSON: a string holds an invalid unicode escape";

    public static (ControlCommand? Command, string? Error) ParseHive(ReadOnlySpan<byte> body)
    {
        if (!TryParseObject(body, out var document, out var error)) return (null, error);
        using (document)
        try
        {
            var root = document!.RootElement;
            var (action, actionError) = ReadAction(root);
            if (actionError is not null) return (null, actionError);
            if (action == ControlAction.Drain) return ReadDrain(root);

            var (target, targetError) = ReadTarget(root, "taskId", "missionId");
            if (targetError is not null) return (null, targetError);
            if (target is null) return (null, "taskId is missing: give a task id or \"all\"");

            JsonElement? data = null;
            if (root.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Undefined)
                data = d.Clone();
            if (action == ControlAction.Message && (data is null || data.Value.ValueKind == JsonValueKind.Null))
                return (null, "data is missing: action \"message\" writes data to the script's stdin");

            var (by, byError) = ReadBy(root);
            if (byError is not null) return (null, byError);
            return (new ControlCommand(target, action, data, by), null);
        }
        catch (InvalidOperationException)
        {
            return (null, InvalidEscape);
        }
    }

    public static (ControlCommand? Command, string? Error) ParseSeed(ReadOnlySpan<byte> body, string? correlationId)
    {
        if (!TryParseObject(body, out var document, out var error)) return (null, error);
        using (document)
        try
        {
            var root = document!.RootElement;
            string? target;
            if (!string.IsNullOrEmpty(correlationId))
            {
                if (!IsTarget(correlationId))
                    return (null, $"AMQP correlation-id {TaskParser.Quote(correlationId)} is not a task id or \"all\"");
                target = correlationId;
            }
            else
            {
                var (bodyTarget, targetError) = ReadTarget(root, "missionId", "taskId");
                if (targetError is not null) return (null, targetError);
                target = bodyTarget;
            }

            if (target is null) return (null, "missionId is missing: set the AMQP correlation-id (mission id or \"all\") or missionId in the body");

            var (action, actionError) = ReadAction(root);
            if (actionError is not null) return (null, actionError);
            if (action == ControlAction.Drain) return (null, "action \"drain\" is Hive's, not the seed's: send {\"action\": \"drain\", \"node\": …} to hive.control");

            JsonElement? data = null;
            if (action == ControlAction.Message)
                data = root.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Null ? d.Clone() : root.Clone();

            var (by, byError) = ReadBy(root);
            if (byError is not null) return (null, byError);
            return (new ControlCommand(target, action, data, by), null);
        }
        catch (InvalidOperationException)
        {
            return (null, InvalidEscape);
        }
    }

    /// <summary>The Hive-shape JSON of <paramref name="command"/>: <c>{"taskId","action","data"?,"by"?}</c>.</summary>
    public static byte[] Serialize(ControlCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString(command.Action == ControlAction.Drain ? "node" : "taskId", command.Target);
            w.WriteString("action", ToWire(command.Action));
            if (command.Data is { } data && data.ValueKind != JsonValueKind.Undefined)
            {
                w.WritePropertyName("data");
                data.WriteTo(w);
            }

            if (command.By is not null) w.WriteString("by", command.By);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Hive's wire name: stop, pause, resume, message, drain.</summary>
    public static string ToWire(ControlAction action) => action switch
    {
        ControlAction.Stop => "stop",
        ControlAction.Pause => "pause",
        ControlAction.Resume => "resume",
        ControlAction.Message => "message",
        ControlAction.Drain => "drain",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "unknown control action"),
    };

    private static bool TryParseObject(ReadOnlySpan<byte> body, out JsonDocument? document, out string? error)
    {
        document = null;
        error = null;
        if (body.Length > MaxBodyBytes)
        {
            error = $"body is {body.Length} bytes; the limit is {MaxBodyBytes}";
            return false;
        }

        if (!Utf8.IsValid(body))
        {
            error = "body is not valid JSON: it is not valid UTF-8 text";
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(body);
            document = JsonDocument.ParseValue(ref reader);
            if (reader.Read()) throw new JsonException("unexpected data after the top-level value");
        }
        catch (JsonException ex)
        {
            document?.Dispose();
            document = null;
            error = $"body is not valid JSON: {ex.Message}";
            return false;
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            error = $"body is a JSON {TaskParser.KindName(document.RootElement.ValueKind)}; expected an object";
            document.Dispose();
            document = null;
            return false;
        }

        return true;
    }

    private static (string? Target, string? Error) ReadTarget(JsonElement root, string field, string alias)
    {
        foreach (var name in new[] { field, alias })
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) continue;
            if (e.ValueKind != JsonValueKind.String) return (null, $"{name} must be a string; got {TaskParser.Describe(e)}");
            var value = e.GetString()!;
            return IsTarget(value) ? (value, null) : (null, $"{name} {TaskParser.Quote(value)} is not a task id or \"all\"");
        }

        return (null, null);
    }

    private static bool IsTarget(string value) => value == ControlCommand.All || TaskParser.IsValidId(value);

    private static (ControlCommand? Command, string? Error) ReadDrain(JsonElement root)
    {
        if (!root.TryGetProperty("node", out var e) || e.ValueKind == JsonValueKind.Null)
            return (null, "node is missing: action \"drain\" names the node to drain");
        if (e.ValueKind != JsonValueKind.String) return (null, $"node must be a string; got {TaskParser.Describe(e)}");
        var node = e.GetString()!;
        if (node.Length is 0 or > 200) return (null, "node must be a node name (1 to 200 characters)");
        var (by, byError) = ReadBy(root);
        return byError is not null ? (null, byError) : (new ControlCommand(node, ControlAction.Drain, null, by), null);
    }

    private static (ControlAction Action, string? Error) ReadAction(JsonElement root)
    {
        if (!root.TryGetProperty("action", out var e) || e.ValueKind == JsonValueKind.Null)
            return (default, "action is missing: expected stop, pause, resume, message or drain (seed: stop, pause, start, update)");
        if (e.ValueKind != JsonValueKind.String)
            return (default, $"action must be a string; got {TaskParser.Describe(e)}");
        return e.GetString()!.ToLowerInvariant() switch
        {
            "stop" => (ControlAction.Stop, null),
            "pause" => (ControlAction.Pause, null),
            "resume" or "start" => (ControlAction.Resume, null),
            "message" or "update" => (ControlAction.Message, null),
            "drain" => (ControlAction.Drain, null),
            var other => (default, $"action {TaskParser.Quote(other)} is unknown: expected stop, pause, resume, message or drain (seed: stop, pause, start, update)"),
        };
    }

    private static (string? By, string? Error) ReadBy(JsonElement root)
    {
        if (!root.TryGetProperty("by", out var e) || e.ValueKind == JsonValueKind.Null) return (null, null);
        if (e.ValueKind != JsonValueKind.String) return (null, $"by must be a string; got {TaskParser.Describe(e)}");
        var by = e.GetString()!;
        return (by.Length <= 200 ? by : by[..200], null);
    }
}
