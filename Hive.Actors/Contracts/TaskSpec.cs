using System.Text.Json;
using Hive.Actors.Processes;

namespace Hive.Actors.Contracts;

/// <summary>
/// Seed-compatibility options of a task that arrived in the seed's shape.
/// </summary>
/// <param name="IsMarkAllProgress">
/// The seed's <c>target.isMarkAllProgress</c> (0/1 or a boolean): when set, the finished callback carries
/// <c>result0</c>, <c>result1</c>, ... (the last lines of every run) instead of one <c>result</c>.
/// </param>
/// <param name="MarkProgressLength">
/// The seed's <c>target.markProgressLength</c> as sent: lines per run in the finished callback;
/// 0 = no result lines at all; -1 = every line (Hive caps it at <see cref="TaskParser.MaxResultLength"/>).
/// </param>
public sealed record SeedOptions(bool IsMarkAllProgress, int MarkProgressLength);

/// <summary>
/// A validated task. Built only by <see cref="TaskParser.Parse"/>; re-queued with <see cref="TaskParser.Serialize"/>.
/// </summary>
/// <param name="TaskId">1–128 characters of <c>[A-Za-z0-9_.:-]</c>.</param>
/// <param name="Script">A script name in <c>tasks/</c> (no extension), already checked against the catalog; or null when <paramref name="Command"/> is set.</param>
/// <param name="Command">A shell command line (seed <c>target.command</c>); only ever set where <c>hive.tasks.allow-commands = on</c>.</param>
/// <param name="Args">Any JSON handed to the script (a detached clone; <c>{}</c> when absent or null).</param>
/// <param name="AcceptUrl">Absolute http(s) URL to POST to when a node accepts the task.</param>
/// <param name="ResponseUrl">Absolute http(s) URL to POST the result to.</param>
/// <param name="TimeoutSeconds">1 .. 604800 (7 days), or null for no timeout.</param>
/// <param name="MaxAttempts">1 .. 100.</param>
/// <param name="Loop">Runs per attempt: -1 = forever, else ≥ 1.</param>
/// <param name="IntervalSeconds">Seconds between runs, ≥ 0.</param>
/// <param name="ProgressLength">Last N output lines kept in Redis, 0 .. 1000.</param>
/// <param name="ResultLength">Last N output lines of each run kept in the result, 0 .. 1000.</param>
/// <param name="ReplyTo">AMQP reply-to of the task message: the result is published there too.</param>
/// <param name="Shape">The shape the task arrived in; decides the callback bodies.</param>
/// <param name="Seed">Seed options, set when <paramref name="Shape"/> is <see cref="TaskShape.Seed"/>.</param>
/// <param name="Queue">The queue the task was consumed from (AMQP), if known.</param>
/// <param name="RetryBackoffSeconds">First retry delay from the script's manifest (<c>backoffSeconds</c>), or null for <c>hive.tasks.retry-backoff</c>.</param>
public sealed record TaskSpec(
    string TaskId,
    string? Script,
    string? Command,
    JsonElement Args,
    string? AcceptUrl,
    string? ResponseUrl,
    int? TimeoutSeconds,
    int MaxAttempts,
    int Loop,
    double IntervalSeconds,
    int ProgressLength,
    int ResultLength,
    string? ReplyTo,
    TaskShape Shape,
    SeedOptions? Seed,
    string? Queue,
    double? RetryBackoffSeconds = null)
{
    /// <summary>The script name, or <c>"command"</c> for a shell command; the routing key on <c>hive.results</c>.</summary>
    public string ScriptOrCommand => Script ?? "command";

    /// <summary>The timeout as a <see cref="TimeSpan"/>, or null.</summary>
    public TimeSpan? Timeout => TimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null;

    /// <summary>The pause between runs.</summary>
    public TimeSpan Interval => TimeSpan.FromSeconds(IntervalSeconds);

    /// <summary>Command lines may carry credentials: show only their length. URLs may carry tokens: show only host.</summary>
    public override string ToString() =>
        $"TaskSpec {{ TaskId = {TaskId}, Script = {Script}, Command = {(Command is null ? "null" : $"<{Command.Length} chars>")}, " +
        $"AcceptUrl = {HostOnly(AcceptUrl)}, ResponseUrl = {HostOnly(ResponseUrl)}, TimeoutSeconds = {TimeoutSeconds}, " +
        $"MaxAttempts = {MaxAttempts}, Loop = {Loop}, IntervalSeconds = {IntervalSeconds}, ProgressLength = {ProgressLength}, " +
        $"ResultLength = {ResultLength}, ReplyTo = {ReplyTo}, Shape = {Shape}, Seed = {Seed}, Queue = {Queue} }}";

    private static string HostOnly(string? url) =>
        url is null ? "null" : Uri.TryCreate(url, UriKind.Absolute, out var u) ? $"{u.Scheme}://{u.Authority.Split('@')[^1]}/…" : "<invalid>";
}

/// <summary>The AMQP properties of a task message that the parser looks at.</summary>
/// <param name="MessageId">AMQP message-id: the task id when the body has none.</param>
/// <param name="CorrelationId">AMQP correlation-id: the task id when the body and message-id have none (the seed's mission id).</param>
/// <param name="ReplyTo">AMQP reply-to: where the result is also published.</param>
/// <param name="QueueName">The queue the message was consumed from.</param>
/// <summary>The AMQP properties of a task message that the parser reads.</summary>
/// <param name="Requeued">Set by a node putting back a task it accepted before (header <c>x-hive-requeued</c>): its args are not checked again.</param>
public sealed record TaskMessageHeaders(string? MessageId, string? CorrelationId, string? ReplyTo, string? QueueName, bool Requeued = false)
{
    public static readonly TaskMessageHeaders None = new(null, null, null, null);
}

/// <summary>What <see cref="TaskParser.Parse"/> made of a message: <see cref="Accepted"/> or <see cref="Rejected"/>.</summary>
public abstract record ParseOutcome
{
    private ParseOutcome()
    {
    }

    /// <summary>The message is a valid task; <paramref name="Manifest"/> is its script's manifest as read when it was accepted.</summary>
    public sealed record Accepted(TaskSpec Spec, ScriptManifest? Manifest = null) : ParseOutcome;

    /// <summary>
    /// The message cannot be a task: dead-letter it with <paramref name="Reason"/> and, when
    /// <paramref name="TaskId"/> could be read, publish a <c>rejected</c> result for it.
    /// </summary>
    public sealed record Rejected(string? TaskId, string Reason) : ParseOutcome;
}

/// <summary>Node settings the parser needs.</summary>
/// <param name="MaxBodyBytes">Largest accepted body (<c>hive.tasks.max-body-bytes</c>).</param>
/// <param name="AllowCommands">Whether shell commands (<c>target.command</c>) may run here (<c>hive.tasks.allow-commands</c>).</param>
/// <param name="CheckScript">Whether the script exists and is allowed, and its manifest (the catalog implements it).</param>
/// <param name="DefaultMaxAttempts">maxAttempts when the message has none.</param>
/// <param name="DefaultProgressLength">progressLength when a Hive-shape message has none.</param>
/// <param name="DefaultResultLength">resultLength when a Hive-shape message has none.</param>
/// <param name="MaxArgsDepth">Deepest allowed nesting of <c>args</c> (a scalar is 0, <c>{"a":1}</c> is 1).</param>
public sealed record TaskParserOptions(
    int MaxBodyBytes,
    bool AllowCommands,
    Func<string, ScriptCheck> CheckScript,
    int DefaultMaxAttempts,
    int DefaultProgressLength,
    int DefaultResultLength,
    int MaxArgsDepth)
{
    /// <summary>1 MiB bodies, no commands, every script allowed, 3 attempts, 20 progress lines, 1 result line, args depth 32.</summary>
    public static TaskParserOptions Default { get; } = new(1024 * 1024, false, static _ => ScriptCheck.Runnable(null), 3, 20, 1, 32);
}

/// <summary>What the catalog says about a script a task names: why it cannot run, or the manifest that sets its defaults.</summary>
/// <param name="Error">The rejection reason, or null when the script exists and is allowed.</param>
/// <param name="Manifest">The script's manifest (<c>tasks/&lt;script&gt;.json</c>), or null when there is none.</param>
public readonly record struct ScriptCheck(string? Error, ScriptManifest? Manifest)
{
    public static ScriptCheck Runnable(ScriptManifest? manifest) => new(null, manifest);

    public static ScriptCheck Refused(string error) => new(error ?? throw new ArgumentNullException(nameof(error)), null);
}
