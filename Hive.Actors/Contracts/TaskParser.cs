using System.Buffers;
using System.Globalization;
using System.Text.Unicode;
using System.Text.Json;
using Hive.Actors.Processes;

namespace Hive.Actors.Contracts;

/// <summary>
/// Turns a task message (Hive's shape or the seed's shape) into a validated <see cref="TaskSpec"/>, or into a
/// rejection with a short reason that names the offending field. Never throws for bad input.
/// </summary>
/// <remarks>
/// <para>Shapes. A body with a top-level <c>missionId</c> or <c>target</c> is the seed's shape:
/// <c>{"missionId", "acceptUrl", "responseUrl", "target": {"command", "loop", "interval", "isMarkAllProgress",
/// "markProgressLength", "progressLength"}}</c>; a seed target may name <c>script</c> + <c>args</c> instead of
/// <c>command</c> (Hive extension), and <c>timeoutSeconds</c> / <c>maxAttempts</c> may be given at the top level.
/// Anything else is Hive's shape (see <c>DESIGN.md</c>). Unknown fields are ignored.</para>
/// <para>Task id. The body's <c>taskId</c> (seed: <c>missionId</c>); when absent, the AMQP message-id then
/// correlation-id (seed: correlation-id first, since the seed takes the mission id from there). An id is 1–128
/// characters of <c>[A-Za-z0-9_.:-]</c>. Every rejection after the id was read carries it, so a <c>rejected</c>
/// result can be published; rejections before that (size, JSON) carry a valid header id if there is one.</para>
/// <para>Seed defaults, read from the seed's <c>executeorder.cpp</c> and README: loop 1, interval 0,
/// isMarkAllProgress 0, markProgressLength 1, progressLength 1. The seed's result lines per run
/// (<c>markProgressLength</c>) become <see cref="TaskSpec.ResultLength"/> (-1 = every line, capped at
/// <see cref="MaxResultLength"/>).</para>
/// </remarks>
public static class TaskParser
{
    public const int MaxIdLength = 128;
    public const int MaxScriptNameLength = 128;
    public const int MaxTimeoutSeconds = 7 * 24 * 3600;
    public const int MaxMaxAttempts = 100;
    public const int MaxProgressLength = 1000;
    public const int MaxResultLength = 1000;
    public const double MaxIntervalSeconds = 7 * 24 * 3600;

    public const int SeedDefaultLoop = 1;
    public const double SeedDefaultInterval = 0;
    public const int SeedDefaultMarkProgressLength = 1;

    /// <summary>The seed's own default (README table and <c>executeorder.cpp</c>: <c>int progressLength = 1</c>).</summary>
    public const int SeedDefaultProgressLength = 1;

    private static readonly JsonElement EmptyObject = CreateEmptyObject();

    /// <summary>Validates a task message. Never throws for bad input: every problem becomes a <see cref="ParseOutcome.Rejected"/>.</summary>
    public static ParseOutcome Parse(ReadOnlySpan<byte> body, TaskMessageHeaders headers, TaskParserOptions options)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(options);

        if (body.Length > options.MaxBodyBytes)
            return Reject(HeaderId(headers, seed: false), $"body is {body.Length} bytes; the limit is {options.MaxBodyBytes}");
        if (IsBlank(body))
            return Reject(HeaderId(headers, seed: false), "body is empty; expected a JSON object");
        if (!Utf8.IsValid(body))
            return Reject(HeaderId(headers, seed: false), "body is not valid JSON: it is not valid UTF-8 text");

        // root (1) + target (2) + args: one level of slack so that args one level too deep is reported with the task id.
        var maxDepth = Math.Max(1, options.MaxArgsDepth) + 3;
        JsonDocument? document = null;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = maxDepth });
            document = JsonDocument.ParseValue(ref reader);
            if (reader.Read())
            {
                document.Dispose();
                return Reject(HeaderId(headers, seed: false), "body is not valid JSON: unexpected data after the top-level value");
            }
        }
        catch (JsonException ex)
        {
            document?.Dispose();
            return RejectUnparsable(body, headers, options, ex);
        }

        try
        {
            using var owned = document;
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Reject(HeaderId(headers, seed: false), $"body is a JSON {KindName(root.ValueKind)}; expected an object");

            var seed = root.TryGetProperty("missionId", out _) || root.TryGetProperty("target", out _);
            var (id, idError) = ReadId(root, headers, seed);
            if (idError is not null)
                return Reject(null, idError);

            var fields = new Fields(id!);
            return seed ? ParseSeed(root, fields, headers, options) : ParseHive(root, fields, headers, options);
        }
        catch (InvalidOperationException)
        {
            // JsonElement.GetString() on a string escape that is not valid UTF-16 (e.g. a lone "\ud800").
            return Reject(HeaderId(headers, seed: false), "body is not valid JSON: a string holds an invalid unicode escape");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Last resort (a catalog or schema check that threw): bad input must become a dead letter, never a stream failure.
            return Reject(HeaderId(headers, seed: false), $"the task could not be checked ({e.GetType().Name})");
        }
    }

    /// <summary>
    /// Canonical Hive-shape JSON of <paramref name="spec"/>, used to re-queue a task. A seed task keeps its shape
    /// through a <c>seed</c> object; <c>replyTo</c> and <c>queue</c> are kept in the body (AMQP properties win on parse).
    /// <c>Parse(Serialize(x))</c> equals <c>x</c> except for <see cref="TaskSpec.Args"/> identity.
    /// </summary>
    public static byte[] Serialize(TaskSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("taskId", spec.TaskId);
            if (spec.Script is not null) w.WriteString("script", spec.Script);
            if (spec.Command is not null) w.WriteString("command", spec.Command);
            w.WritePropertyName("args");
            WriteElementOrEmpty(w, spec.Args);
            if (spec.AcceptUrl is not null) w.WriteString("acceptUrl", spec.AcceptUrl);
            if (spec.ResponseUrl is not null) w.WriteString("responseUrl", spec.ResponseUrl);
            if (spec.TimeoutSeconds is { } timeout) w.WriteNumber("timeoutSeconds", timeout);
            w.WriteNumber("maxAttempts", spec.MaxAttempts);
            w.WriteNumber("loop", spec.Loop);
            w.WriteNumber("interval", spec.IntervalSeconds);
            w.WriteNumber("progressLength", spec.ProgressLength);
            w.WriteNumber("resultLength", spec.ResultLength);
            if (spec.ReplyTo is not null) w.WriteString("replyTo", spec.ReplyTo);
            if (spec.Queue is not null) w.WriteString("queue", spec.Queue);
            if (spec.RetryBackoffSeconds is { } backoff) w.WriteNumber("retryBackoffSeconds", backoff);
            if (spec.Shape == TaskShape.Seed)
            {
                var seed = spec.Seed ?? new SeedOptions(false, SeedDefaultMarkProgressLength);
                w.WriteStartObject("seed");
                w.WriteBoolean("isMarkAllProgress", seed.IsMarkAllProgress);
                w.WriteNumber("markProgressLength", seed.MarkProgressLength);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>True when <paramref name="id"/> is 1–128 characters of <c>[A-Za-z0-9_.:-]</c>.</summary>
    public static bool IsValidId(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxIdLength) return false;
        foreach (var c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '-'))
                return false;
        return true;
    }

    /// <summary>
    /// Null when <paramref name="name"/> is a valid script name (<c>^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$</c>, no <c>..</c>),
    /// else the reason. This is syntax only; the catalog decides whether the script exists.
    /// </summary>
    public static string? CheckScriptName(string name, string field = "script")
    {
        if (name.Length == 0)
            return $"{field} is empty; name a script in tasks/ (file name without extension)";
        if (name.Contains("..", StringComparison.Ordinal) || name.Contains('/') || name.Contains('\\') || name[0] == '.')
            return $"{field} {Quote(name)} would leave tasks/: a script is a file name in tasks/, without folders, '..' or a leading '.'";
        if (name.Length > MaxScriptNameLength)
            return $"{field} is {name.Length} characters; a script name in tasks/ has at most {MaxScriptNameLength}";
        if (!char.IsAsciiLetterOrDigit(name[0]))
            return $"{field} {Quote(name)} is not a script name in tasks/: it must start with a letter or digit";
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
                return $"{field} {Quote(name)} is not a script name in tasks/: use only letters, digits, '_', '.', '-'";
        return null;
    }

    private static ParseOutcome ParseHive(JsonElement root, Fields f, TaskMessageHeaders headers, TaskParserOptions o)
    {
        f.String(root, "script", "script", out var script);
        f.String(root, "command", "command", out var command);
        var args = f.Args(root, "args", "args", o.MaxArgsDepth);
        f.Url(root, "acceptUrl", "acceptUrl", out var acceptUrl);
        f.Url(root, "responseUrl", "responseUrl", out var responseUrl);
        f.Int(root, "timeoutSeconds", "timeoutSeconds", 1, MaxTimeoutSeconds, " (7 days)", out var timeout);
        f.Int(root, "maxAttempts", "maxAttempts", 1, MaxMaxAttempts, "", out var maxAttempts);
        f.Loop(root, "loop", "loop", out var loop);
        f.Interval(root, "interval", "interval", out var interval);
        f.Int(root, "progressLength", "progressLength", 0, MaxProgressLength, "", out var progressLength);
        f.Int(root, "resultLength", "resultLength", 0, MaxResultLength, "", out var resultLength);
        f.String(root, "replyTo", "replyTo", out var replyTo);
        f.String(root, "queue", "queue", out var queue);
        f.Interval(root, "retryBackoffSeconds", "retryBackoffSeconds", out var retryBackoff);

        SeedOptions? seed = null;
        if (f.Error is null && root.TryGetProperty("seed", out var seedElement) && seedElement.ValueKind != JsonValueKind.Null)
        {
            if (seedElement.ValueKind != JsonValueKind.Object)
                f.Fail($"seed must be an object; got {Describe(seedElement)}");
            else
            {
                f.Flag(seedElement, "isMarkAllProgress", "seed.isMarkAllProgress", out var markAll);
                f.Int(seedElement, "markProgressLength", "seed.markProgressLength", -1, MaxResultLength, " (-1 = every line)", out var markLength);
                seed = new SeedOptions(markAll ?? false, markLength ?? SeedDefaultMarkProgressLength);
            }
        }

        if (f.Error is not null) return f.Rejected();
        args ??= EmptyObject;
        if (CheckRunnable(f, script, command, args.Value, "script", "command", "args", o, headers.Requeued, out var manifest) is { } rejected)
            return rejected;

        return new ParseOutcome.Accepted(new TaskSpec(
            f.Id, script, command, args.Value, acceptUrl, responseUrl, timeout ?? manifest?.TimeoutSeconds,
            maxAttempts ?? manifest?.MaxAttempts ?? o.DefaultMaxAttempts, loop ?? 1, interval ?? 0,
            progressLength ?? o.DefaultProgressLength, resultLength ?? o.DefaultResultLength,
            headers.ReplyTo ?? replyTo, seed is null ? TaskShape.Hive : TaskShape.Seed, seed, headers.QueueName ?? queue,
            retryBackoff ?? manifest?.BackoffSeconds), manifest);
    }

    private static ParseOutcome ParseSeed(JsonElement root, Fields f, TaskMessageHeaders headers, TaskParserOptions o)
    {
        f.Url(root, "acceptUrl", "acceptUrl", out var acceptUrl);
        f.Url(root, "responseUrl", "responseUrl", out var responseUrl);
        f.Int(root, "timeoutSeconds", "timeoutSeconds", 1, MaxTimeoutSeconds, " (7 days)", out var timeout);
        f.Int(root, "maxAttempts", "maxAttempts", 1, MaxMaxAttempts, "", out var maxAttempts);
        f.String(root, "replyTo", "replyTo", out var replyTo);
        f.String(root, "queue", "queue", out var queue);
        if (f.Error is not null) return f.Rejected();

        if (!root.TryGetProperty("target", out var target) || target.ValueKind == JsonValueKind.Null)
            return f.Fail("target is missing: the seed's shape needs target: {\"command\" or \"script\", ...}").Rejected();
        if (target.ValueKind != JsonValueKind.Object)
            return f.Fail($"target must be an object; got {Describe(target)}").Rejected();

        f.String(target, "command", "target.command", out var command);
        f.String(target, "script", "target.script", out var script);
        var args = f.Args(target, "args", "target.args", o.MaxArgsDepth);
        f.Loop(target, "loop", "target.loop", out var loop);
        f.Interval(target, "interval", "target.interval", out var interval);
        f.Flag(target, "isMarkAllProgress", "target.isMarkAllProgress", out var markAll);
        f.Int(target, "markProgressLength", "target.markProgressLength", -1, MaxResultLength, " (-1 = every line)", out var markLength);
        f.Int(target, "progressLength", "target.progressLength", 0, MaxProgressLength, "", out var progressLength);
        if (f.Error is not null) return f.Rejected();
        args ??= EmptyObject;
        if (CheckRunnable(f, script, command, args.Value, "target.script", "target.command", "target.args", o, headers.Requeued, out var manifest) is { } rejected)
            return rejected;

        var mark = markLength ?? SeedDefaultMarkProgressLength;
        return new ParseOutcome.Accepted(new TaskSpec(
            f.Id, script, command, args.Value, acceptUrl, responseUrl, timeout ?? manifest?.TimeoutSeconds,
            maxAttempts ?? manifest?.MaxAttempts ?? o.DefaultMaxAttempts, loop ?? SeedDefaultLoop, interval ?? SeedDefaultInterval,
            progressLength ?? SeedDefaultProgressLength, mark < 0 ? MaxResultLength : mark,
            headers.ReplyTo ?? replyTo, TaskShape.Seed, new SeedOptions(markAll ?? false, mark), headers.QueueName ?? queue,
            manifest?.BackoffSeconds), manifest);
    }

    /// <summary>
    /// Checks that the task names one runnable thing and, for a script, that its args match the manifest's schema (not for
    /// a re-queued task: it was accepted under the schema of its time).
    /// </summary>
    private static ParseOutcome.Rejected? CheckRunnable(Fields f, string? script, string? command, JsonElement args,
        string scriptField, string commandField, string argsField, TaskParserOptions o, bool requeued, out ScriptManifest? manifest)
    {
        manifest = null;
        if (script is null && command is null)
            return f.Fail($"{scriptField} is missing: name a script in tasks/ (or a {commandField} where commands are allowed)").Rejected();
        if (script is not null && command is not null)
            return f.Fail($"{scriptField} and {commandField} are both given; give one of them").Rejected();
        if (command is not null)
        {
            if (!o.AllowCommands)
                return f.Fail($"{commandField} is disabled on this node (hive.tasks.allow-commands = off)").Rejected();
            if (string.IsNullOrWhiteSpace(command))
                return f.Fail($"{commandField} is empty").Rejected();
            return null;
        }

        if (CheckScriptName(script!, scriptField) is { } syntax)
            return f.Fail(syntax).Rejected();
        var check = o.CheckScript(script!);
        if (check.Error is { } unknown)
            return f.Fail($"{scriptField} {Quote(script!)}: {unknown}").Rejected();
        manifest = check.Manifest;
        if (!requeued && manifest?.CheckArgs(args, argsField) is { } mismatch)
            return f.Fail($"{mismatch} (tasks/{script}.json)").Rejected();
        return null;
    }

    private static (string? Id, string? Error) ReadId(JsonElement root, TaskMessageHeaders headers, bool seed)
    {
        var field = seed ? "missionId" : "taskId";
        if (root.TryGetProperty(field, out var element) && element.ValueKind != JsonValueKind.Null)
        {
            if (element.ValueKind != JsonValueKind.String)
                return (null, $"{field} must be a string; got {Describe(element)}");
            var id = element.GetString()!;
            return IsValidId(id) ? (id, null) : (null, $"{field} {Quote(id)} {IdRule}");
        }

        var candidates = seed
            ? new[] { ("AMQP correlation-id", headers.CorrelationId), ("AMQP message-id", headers.MessageId) }
            : new[] { ("AMQP message-id", headers.MessageId), ("AMQP correlation-id", headers.CorrelationId) };
        foreach (var (source, value) in candidates)
        {
            if (string.IsNullOrEmpty(value)) continue;
            return IsValidId(value) ? (value, null) : (null, $"{field} is missing and the {source} {Quote(value)} {IdRule}");
        }

        return (null, seed
            ? "missionId is missing: give missionId in the body or an AMQP correlation-id"
            : "taskId is missing: give taskId in the body, or an AMQP message-id or correlation-id");
    }

    private const string IdRule = "is not a valid task id: use 1-128 letters, digits, '_', '.', ':', '-' (no spaces or slashes)";

    private static string? HeaderId(TaskMessageHeaders headers, bool seed)
    {
        var (first, second) = seed ? (headers.CorrelationId, headers.MessageId) : (headers.MessageId, headers.CorrelationId);
        var candidate = !string.IsNullOrEmpty(first) ? first : second;
        return IsValidId(candidate) ? candidate : null;
    }

    private static ParseOutcome RejectUnparsable(ReadOnlySpan<byte> body, TaskMessageHeaders headers, TaskParserOptions o, JsonException ex)
    {
        // Tell "too deep" apart from "not JSON" with a second, depth-unlimited pass (Utf8JsonReader is not recursive).
        var allowed = Math.Max(1, o.MaxArgsDepth) + 3;
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = int.MaxValue });
        string? bodyId = null;
        var missionShape = false;
        try
        {
            string? pendingProperty = null;
            while (reader.Read())
            {
                if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.PropertyName)
                {
                    pendingProperty = reader.GetString();
                    if (pendingProperty is "missionId" or "target") missionShape = true;
                    continue;
                }

                if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.String && pendingProperty is "taskId" or "missionId")
                    bodyId ??= reader.GetString();
                pendingProperty = null;
            }
        }
        catch (Exception scanError) when (scanError is JsonException or InvalidOperationException)
        {
            return Reject(HeaderId(headers, seed: false), $"body is not valid JSON: {ShortJsonMessage(ex)}");
        }

        var id = IsValidId(bodyId) ? bodyId : HeaderId(headers, missionShape);
        return Reject(id, $"body nests deeper than {allowed} levels; args may nest at most {o.MaxArgsDepth} levels (hive.tasks.max-args-depth)");
    }

    private static string ShortJsonMessage(JsonException ex)
    {
        var message = ex.Message;
        return message.Length <= 200 ? message : message[..200] + "…";
    }

    private static bool IsBlank(ReadOnlySpan<byte> body)
    {
        foreach (var b in body)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
                return false;
        return true;
    }

    private static ParseOutcome.Rejected Reject(string? id, string reason) => new(id, reason);

    private static JsonElement CreateEmptyObject()
    {
        using var document = JsonDocument.Parse("{}");
        return document.RootElement.Clone();
    }

    private static void WriteElementOrEmpty(Utf8JsonWriter w, JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Undefined) { w.WriteStartObject(); w.WriteEndObject(); }
        else element.WriteTo(w);
    }

    internal static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>A short description of a JSON value for a rejection reason: <c>the string "30"</c>, <c>1.5</c>, <c>an object</c>.</summary>
    internal static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => $"the string {Quote(e.GetString()!)}",
        JsonValueKind.Number => Truncate(e.GetRawText(), 32),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => "nothing",
    };

    /// <summary>Quotes a user-supplied value for a reason: at most 64 characters, control characters replaced.</summary>
    internal static string Quote(string value)
    {
        var text = Truncate(value, 64);
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
            if (char.IsControl(chars[i])) chars[i] = '?';
        return "'" + new string(chars) + "'";
    }

    private static string Truncate(string value, int max) => value.Length <= max ? value : value[..max] + "…";

    /// <summary>Collects the first field error; the readers do nothing once an error is recorded.</summary>
    private sealed class Fields(string id)
    {
        public string Id { get; } = id;

        public string? Error { get; private set; }

        public Fields Fail(string reason)
        {
            Error ??= reason;
            return this;
        }

        public ParseOutcome.Rejected Rejected() => new(Id, Error!);

        private bool TryGet(JsonElement obj, string name, out JsonElement value)
        {
            value = default;
            return Error is null && obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;
        }

        public void String(JsonElement obj, string name, string path, out string? value)
        {
            value = null;
            if (!TryGet(obj, name, out var e)) return;
            if (e.ValueKind != JsonValueKind.String) { Fail($"{path} must be a string; got {Describe(e)}"); return; }
            value = e.GetString();
        }

        public void Url(JsonElement obj, string name, string path, out string? value)
        {
            value = null;
            if (!TryGet(obj, name, out var e)) return;
            if (e.ValueKind != JsonValueKind.String) { Fail($"{path} must be an absolute http(s) URL string; got {Describe(e)}"); return; }
            var text = e.GetString()!;
            if (text.Length == 0) return; // seed backends send "" for "no callback"
            // On Unix, Uri reads "/x" as an absolute file URI: insist on an explicit scheme first.
            if (!HasExplicitScheme(text) || !Uri.TryCreate(text, UriKind.Absolute, out var uri))
            {
                Fail($"{path} must be an absolute http(s) URL; got a relative or malformed URL");
                return;
            }

            if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            {
                Fail($"{path} must be an absolute http(s) URL; got scheme {Quote(uri.Scheme)}");
                return;
            }

            if (string.IsNullOrEmpty(uri.Host))
            {
                Fail($"{path} must be an absolute http(s) URL; got one without a host");
                return;
            }

            value = text;
        }

        private static bool HasExplicitScheme(string text)
        {
            var colon = text.IndexOf(':');
            if (colon < 1 || !char.IsAsciiLetter(text[0])) return false;
            for (var i = 1; i < colon; i++)
                if (!(char.IsAsciiLetterOrDigit(text[i]) || text[i] is '+' or '-' or '.'))
                    return false;
            return true;
        }

        public void Int(JsonElement obj, string name, string path, int min, int max, string note, out int? value)
        {
            value = null;
            if (!TryGet(obj, name, out var e)) return;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out var n) || n < min || n > max)
            {
                Fail($"{path} must be an integer from {min} to {max}{note}; got {Describe(e)}");
                return;
            }

            value = (int)n;
        }

        public void Loop(JsonElement obj, string name, string path, out int? value)
        {
            value = null;
            if (!TryGet(obj, name, out var e)) return;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var n) || n is 0 or < -1)
            {
                Fail($"{path} must be -1 (run forever) or an integer >= 1; got {Describe(e)}");
                return;
            }

            value = n;
        }

        public void Interval(JsonElement obj, string name, string path, out double? value)
        {
            value = null;
            if (!TryGet(obj, name, out var e)) return;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out var d) || !double.IsFinite(d) || d < 0 || d > MaxIntervalSeconds)
            {
                Fail($"{path} must be a number of seconds from 0 to {MaxIntervalSeconds.ToString(CultureInfo.InvariantCulture)}; got {Describe(e)}");
                return;
            }

            value = d;
        }

        /// <summary>A boolean, or the seed's 0/1 integer (any non-zero integer is true, as jsoncpp's <c>asInt()</c> read it).</summary>
        public void Flag(JsonElement obj, string name, string path, out bool? value)
        {
            value = null;
            if (!TryGet(obj, name, out var e)) return;
            switch (e.ValueKind)
            {
                case JsonValueKind.True: value = true; return;
                case JsonValueKind.False: value = false; return;
                case JsonValueKind.Number when e.TryGetInt64(out var n): value = n != 0; return;
                default: Fail($"{path} must be true/false or 0/1; got {Describe(e)}"); return;
            }
        }

        public JsonElement? Args(JsonElement obj, string name, string path, int maxDepth)
        {
            if (!TryGet(obj, name, out var e)) return null;
            var depth = Depth(e);
            if (depth > maxDepth)
            {
                Fail($"{path} nests {depth} levels deep; the limit is {maxDepth} (hive.tasks.max-args-depth)");
                return null;
            }

            return e.Clone();
        }

        // Bounded by the reader's MaxDepth, so the recursion is shallow.
        private static int Depth(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                {
                    var max = 0;
                    foreach (var p in e.EnumerateObject()) max = Math.Max(max, Depth(p.Value));
                    return max + 1;
                }
                case JsonValueKind.Array:
                {
                    var max = 0;
                    foreach (var item in e.EnumerateArray()) max = Math.Max(max, Depth(item));
                    return max + 1;
                }
                default:
                    return 0;
            }
        }
    }
}
