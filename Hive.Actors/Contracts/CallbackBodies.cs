using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Hive.Actors.Contracts;

/// <summary>HTTP header names of callbacks.</summary>
public static class CallbackHeaders
{
    /// <summary><c>sha256=&lt;lower-case hex HMAC-SHA256 of the body&gt;</c>, sent when a secret is configured.</summary>
    public const string Signature = "X-Hive-Signature";

    /// <summary><see cref="CallbackBodies.IdempotencyKey"/>: the same on every retry of one callback.</summary>
    public const string IdempotencyKey = "Idempotency-Key";
}

/// <summary>
/// Bodies of the callbacks POSTed to <c>acceptUrl</c> and <c>responseUrl</c>, in the shape the task arrived in.
/// </summary>
/// <remarks>
/// <para><b>Hive shape.</b> Accepted: <c>{"taskId","event":"accepted","state":"accepted","script","node","attempt","maxAttempts","idempotencyKey"}</c>.
/// Finished: <c>{"taskId","event":"finished","state","exitCode","signal","reason","attempt","attempts","maxAttempts","script","runs",
/// "lines","result","queuedAt","startedAt","endedAt","node","idempotencyKey"}</c>; <c>attempts</c> is the number of attempts made
/// so far (equal to <c>attempt</c>), <c>maxAttempts</c> the number allowed.</para>
/// <para><b>Seed shape</b> (our reading of the seed's <c>missionget.cpp</c> and <c>executeorder.cpp</c>).
/// Accepted: <c>{"missionId","state":"accept","workQueue"}</c>. Finished: the executor's return object plus
/// <c>missionId</c>, <c>state</c> and <c>workQueue</c>:
/// <list type="bullet">
/// <item><description><c>state</c>: <c>complete</c> when the command ran to its end (the seed ignores exit codes),
/// <c>stop</c> when it was stopped; Hive also says <c>stop</c> for timed-out, rejected and dead (see <see cref="SeedRedisShapes.ToSeedState"/>).</description></item>
/// <item><description><c>workQueue</c>: in the seed, the guide's own control queue (<c>hive.state.&lt;uuid&gt;</c>); pass the node's control
/// queue name, else <see cref="TaskSpec.Queue"/> is used.</description></item>
/// <item><description><c>count</c>: the loop count asked for (<c>target.loop</c>, -1 = forever), as the seed sets it before running.</description></item>
/// <item><description><c>execute</c>: the number of runs that ran to their end (the seed's <c>executTime</c>).</description></item>
/// <item><description><c>result</c>: a JSON <i>array</i> of the last <c>markProgressLength</c> lines of the last run (the seed stores the
/// jsoncpp list, not a joined string); with <c>isMarkAllProgress</c>, <c>result0</c>, <c>result1</c>, … one array per run instead;
/// none at all when <c>markProgressLength</c> is 0.</description></item>
/// </list>
/// Hive adds, so that a failed command is visibly failed: <c>hiveState</c> (wire state), <c>reason</c>, <c>exitCode</c>,
/// <c>signal</c>, <c>attempt</c>, <c>node</c>, <c>idempotencyKey</c>, and <c>hiveResult</c> (the script's result object).
/// Extra fields are harmless to the seed's JSON consumers.</para>
/// </remarks>
public static class CallbackBodies
{
    public const string AcceptedEvent = "accepted";
    public const string FinishedEvent = "finished";

    public static byte[] Accepted(TaskSpec spec, string node, int attempt) => Accepted(spec, node, attempt, spec.Queue);

    /// <param name="workQueue">Seed shape only: the control queue of the accepting node (the seed's <c>workQueue</c>).</param>
    public static byte[] Accepted(TaskSpec spec, string node, int attempt, string? workQueue)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var key = IdempotencyKey(spec.TaskId, attempt, AcceptedEvent);
        return JsonBytes.Write(w =>
        {
            w.WriteStartObject();
            if (spec.Shape == TaskShape.Seed)
            {
                w.WriteString("missionId", spec.TaskId);
                w.WriteString("state", SeedRedisShapes.ToSeedState(TaskState.Accepted));
                w.WriteString("workQueue", workQueue ?? "");
                w.WriteString("hiveState", TaskState.Accepted.ToWire());
            }
            else
            {
                w.WriteString("taskId", spec.TaskId);
                w.WriteString("event", AcceptedEvent);
                w.WriteString("state", TaskState.Accepted.ToWire());
                w.WriteString("script", spec.Script);
                w.WriteNumber("maxAttempts", spec.MaxAttempts);
            }

            w.WriteString("node", node);
            w.WriteNumber("attempt", attempt);
            w.WriteString("idempotencyKey", key);
            w.WriteEndObject();
        });
    }

    public static byte[] Finished(TaskSpec spec, TaskResult result) => Finished(spec, result, spec.Queue);

    /// <param name="workQueue">Seed shape only: the control queue of the node that ran it (the seed's <c>workQueue</c>).</param>
    public static byte[] Finished(TaskSpec spec, TaskResult result, string? workQueue)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(result);
        var key = IdempotencyKey(result.TaskId, result.Attempt, FinishedEvent);
        return JsonBytes.Write(w =>
        {
            w.WriteStartObject();
            if (spec.Shape == TaskShape.Seed)
            {
                w.WriteString("missionId", result.TaskId);
                w.WriteString("state", SeedRedisShapes.ToSeedState(result.State));
                w.WriteString("workQueue", workQueue ?? "");
                w.WriteNumber("count", spec.Loop);
                w.WriteNumber("execute", result.Runs);
                WriteSeedResultLines(w, spec, result);
                w.WriteString("hiveState", result.State.ToWire());
                w.WriteString("reason", result.Reason);
                w.NumberOrNull("exitCode", result.ExitCode);
                w.NumberOrNull("signal", result.Signal);
                w.WriteNumber("attempt", result.Attempt);
                w.ElementOrNull("hiveResult", result.Result);
            }
            else
            {
                w.WriteString("taskId", result.TaskId);
                w.WriteString("event", FinishedEvent);
                w.WriteString("state", result.State.ToWire());
                w.NumberOrNull("exitCode", result.ExitCode);
                w.NumberOrNull("signal", result.Signal);
                w.WriteString("reason", result.Reason);
                w.WriteNumber("attempt", result.Attempt);
                w.WriteNumber("attempts", result.Attempt);
                w.WriteNumber("maxAttempts", result.MaxAttempts);
                w.WriteString("script", result.Script);
                w.WriteNumber("runs", result.Runs);
                w.Lines("lines", result.Lines);
                w.ElementOrNull("result", result.Result);
                w.TimeOrNull("queuedAt", result.QueuedAt);
                w.TimeOrNull("startedAt", result.StartedAt);
                w.TimeOrNull("endedAt", result.EndedAt);
            }

            w.WriteString("node", result.Node);
            w.WriteString("idempotencyKey", key);
            w.WriteEndObject();
        });
    }

    /// <summary><c>&lt;taskId&gt;:&lt;attempt&gt;:&lt;event&gt;</c>, e.g. <c>b7c1:2:finished</c>.</summary>
    public static string IdempotencyKey(string taskId, int attempt, string evt) =>
        string.Create(CultureInfo.InvariantCulture, $"{taskId}:{attempt}:{evt}");

    /// <summary>The <see cref="CallbackHeaders.Signature"/> header value: <c>sha256=&lt;lower-case hex HMAC-SHA256(secret, body)&gt;</c>.</summary>
    public static string Sign(byte[] body, string secret) => "sha256=" + SignatureHex(body, secret);

    /// <summary>Lower-case hex HMAC-SHA256 of <paramref name="body"/> keyed with the UTF-8 bytes of <paramref name="secret"/>.</summary>
    public static string SignatureHex(byte[] body, string secret)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentException.ThrowIfNullOrEmpty(secret);
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
    }

    /// <summary>Constant-time check of a received <see cref="CallbackHeaders.Signature"/> header value.</summary>
    public static bool Verify(byte[] body, string secret, string? headerValue)
    {
        if (headerValue is null) return false;
        var expected = Encoding.ASCII.GetBytes(Sign(body, secret));
        var actual = Encoding.ASCII.GetBytes(headerValue.Trim().ToLowerInvariant());
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }

    private static void WriteSeedResultLines(System.Text.Json.Utf8JsonWriter w, TaskSpec spec, TaskResult result)
    {
        var seed = spec.Seed ?? new SeedOptions(false, TaskParser.SeedDefaultMarkProgressLength);
        if (seed.MarkProgressLength == 0) return;
        var keep = seed.MarkProgressLength < 0 ? int.MaxValue : seed.MarkProgressLength;

        if (seed.IsMarkAllProgress)
        {
            var runs = result.RunLines ?? (result.Lines.Count > 0 ? [result.Lines] : []);
            for (var i = 0; i < runs.Count; i++)
                w.Lines(string.Create(CultureInfo.InvariantCulture, $"result{i}"), Last(runs[i], keep));
        }
        else
        {
            var last = result.RunLines is { Count: > 0 } perRun ? perRun[^1] : result.Lines;
            w.Lines("result", Last(last, keep));
        }
    }

    private static IEnumerable<string> Last(IReadOnlyList<string> lines, int keep) =>
        lines.Count <= keep ? lines : lines.Skip(lines.Count - keep);
}
