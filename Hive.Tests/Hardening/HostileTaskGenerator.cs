using System.Text;
using System.Text.Json;

namespace Hive.Tests.Hardening;

/// <summary>One generated task message that must never become a task.</summary>
public sealed record HostileTask(string Kind, byte[] Body, string? TaskId, string? MessageId = null, string? CorrelationId = null);

/// <summary>
/// Generates task messages that are malformed by construction (each kind breaks a rule the node must enforce):
/// random bytes, truncated JSON, JSON that is not an object, wrong types, bad ids, bodies over the size limit, huge
/// strings, deep nesting, names escaping tasks/ (paths, symlinks), shell metacharacters in names, unknown scripts,
/// seed shell commands on a node that refuses them, invalid UTF-8, and a few messages carrying a live task's id.
/// Deterministic for a given <see cref="Random"/> seed.
/// </summary>
public sealed class HostileTaskGenerator(Random random, int maxBodyBytes, string liveTaskId, string marker)
{
    private static readonly string[] Kinds =
    [
        "random-bytes", "truncated", "non-object", "wrong-type", "bad-id", "huge-string", "deep", "traversal", "shell-name", "unknown-script",
        "seed-command", "seed-broken", "script-and-command", "bad-utf8", "header-id-only",
    ];

    private readonly Dictionary<int, string> _described = new();

    public HostileTask Next(int seq)
    {
        var kind = seq % 500 == 7 ? "live-id" : seq % 100 == 50 ? "oversize" : Kinds[random.Next(Kinds.Length)];
        var id = $"fz-{seq}-{random.Next(1_000_000)}";
        var message = kind switch
        {
            "random-bytes" => RandomBytes(id),
            "truncated" => Truncated(id),
            "non-object" => new HostileTask(kind, Utf8(Pick("42", "\"a string\"", "[1,2,3]", "null", "true", "[{\"taskId\":\"x\",\"script\":\"trivial\"}]", "-0.5e9", "\"{}\"")), null),
            "wrong-type" => WrongType(id),
            "bad-id" => BadId(),
            "huge-string" => HugeString(id),
            "deep" => Deep(id),
            "traversal" => Task(kind, id, Pick("../trivial", "..", "/etc/passwd", "/bin/sh", "tasks/../trivial", "..%2ftrivial", "..\\trivial", "./trivial",
                "escape", "escape-exe", "escape-rel", "escape-dir", "trivial.sh", "sample.py", "hive", "trivial\u0000", ".hidden", "~root", "trivial/",
                "%2e%2e", "-rf", "--help", "", " ", "trivial ", "\u202etrivial")),
            "shell-name" => Task(kind, id, Pick($"trivial; touch {marker}", $"$(touch {marker})", $"`touch {marker}`", $"trivial && touch {marker}",
                $"trivial|touch {marker}", $"trivial\ntouch {marker}", "trivial #x", "trivial'", "trivial\"", "trivial$IFS", $"trivial > {marker}", "*", "?rivial")),
            "unknown-script" => Task(kind, id, $"nope-{random.Next(1_000_000)}"),
            "seed-command" => new HostileTask(kind, Json(new { missionId = id, target = new { command = $"touch {marker}" } }), id),
            "seed-broken" => new HostileTask(kind, Utf8(Pick($"{{\"missionId\":\"{id}\"}}", $"{{\"missionId\":\"{id}\",\"target\":5}}",
                $"{{\"missionId\":\"{id}\",\"target\":{{}}}}", $"{{\"missionId\":\"{id}\",\"target\":{{\"command\":\"\"}}}}")), id),
            "script-and-command" => new HostileTask(kind, Json(new { taskId = id, script = "trivial", command = $"touch {marker}" }), id),
            "bad-utf8" => BadUtf8(id),
            "header-id-only" => new HostileTask(kind, Json(new { script = $"nope-{random.Next(1000)}" }), id, MessageId: id),
            "oversize" => new HostileTask(kind, Json(new { taskId = id, script = "trivial", args = new { pad = new string('x', maxBodyBytes + random.Next(1, 4096)) } }), id),
            "live-id" => new HostileTask(kind, Json(new { taskId = liveTaskId, script = "trivial", maxAttempts = "many" }), liveTaskId),
            _ => throw new InvalidOperationException(kind),
        };
        _described[seq] = $"{message.Kind}: {Preview(message.Body)}";
        return message;
    }

    public string Describe(int seq) => _described.GetValueOrDefault(seq, "?");

    private HostileTask RandomBytes(string id)
    {
        var bytes = new byte[random.Next(0, 300)];
        random.NextBytes(bytes);
        // Never an object: the first byte is anything but '{' or whitespace.
        if (bytes.Length > 0 && bytes[0] is (byte)'{' or (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0xEF) bytes[0] = (byte)'#';
        return new HostileTask("random-bytes", bytes, null, MessageId: random.Next(2) == 0 ? id : null);
    }

    private HostileTask Truncated(string id)
    {
        var full = Json(new { taskId = id, script = "sample", args = new { steps = 1, note = "truncated" }, maxAttempts = 1 });
        return new HostileTask("truncated", full[..random.Next(1, full.Length - 1)], id, MessageId: id);
    }

    private HostileTask WrongType(string id)
    {
        var field = Pick("taskId", "script", "maxAttempts", "timeoutSeconds", "progressLength", "resultLength", "loop", "interval");
        object? bad = field switch
        {
            "taskId" => Pick<object?>(5, new[] { id }, new { id }, true, 1.5),
            "script" => Pick<object?>(5, new[] { "trivial" }, new { name = "trivial" }, true, null),
            "maxAttempts" => Pick<object?>("three", 0, -1, 101, 1.5, new[] { 1 }, true, "3", 1e300),
            "timeoutSeconds" => Pick<object?>(0, -5, 1e12, "60", new { s = 1 }, false),
            "progressLength" or "resultLength" => Pick<object?>(-1, 100_000, "x", 2.5),
            "loop" => Pick<object?>("x", 1.5, new[] { 1 }, -2),
            _ => Pick<object?>(-1, "x", 1e300, new { }),
        };
        var doc = new Dictionary<string, object?> { ["taskId"] = id, ["script"] = "trivial", [field] = bad };
        return new HostileTask("wrong-type", Json(doc), field == "taskId" ? null : id, MessageId: field == "taskId" ? null : id);
    }

    private HostileTask BadId()
    {
        var id = Pick("a b", "a/b", "../../etc/passwd", new string('i', 129), "é", "id\u0000x", "id\n", $"$(touch {marker})", "", "*", "all;stop");
        return new HostileTask("bad-id", Json(new { taskId = id, script = "trivial" }), null);
    }

    private HostileTask HugeString(string id)
    {
        var huge = new string(Pick('a', '/', '.', '$', 'é'), random.Next(maxBodyBytes / 4, maxBodyBytes / 2));
        return random.Next(2) == 0
            ? new HostileTask("huge-string", Json(new { taskId = id, script = huge }), id)
            : new HostileTask("huge-string", Json(new { taskId = huge, script = "trivial" }), null);
    }

    private HostileTask Deep(string id)
    {
        var depth = random.Next(40, 3000);
        var args = new string('[', depth) + new string(']', depth);
        return new HostileTask("deep", Utf8($"{{\"taskId\":\"{id}\",\"script\":\"trivial\",\"args\":{args}}}"), id);
    }

    private HostileTask BadUtf8(string id)
    {
        byte[] body = random.Next(3) switch
        {
            0 => [.. Utf8($"{{\"taskId\":\"{id}\",\"script\":\"triv"), 0xC3, 0x28, .. Utf8("ial\"}")],
            1 => Utf8($"{{\"taskId\":\"{id}\",\"script\":\"\\ud800\"}}"),
            _ => [.. Utf8($"{{\"taskId\":\"{id}\",\"script\":\"trivial\",\"args\":\""), 0xFF, 0xFE, .. Utf8("\",\"maxAttempts\":0}")],
        };
        return new HostileTask("bad-utf8", body, id);
    }

    private static HostileTask Task(string kind, string id, string script) => new(kind, Json(new { taskId = id, script }), id);

    private T Pick<T>(params T[] options) => options[random.Next(options.Length)];

    private static byte[] Json(object value) => JsonSerializer.SerializeToUtf8Bytes(value);

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Preview(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 120));
        return body.Length > 120 ? text + $"… ({body.Length} bytes)" : text;
    }
}
