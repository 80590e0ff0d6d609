using System.Text.Json;

namespace Hive.Actors.Contracts;

/// <summary>
/// How a task attempt ended, and why. The reason drives retries and dead-lettering and is shown to people:
/// "exit code 3", "killed by SIGKILL", "timed out after 30 s", "stopped by control message", "node lost", "rejected: &lt;why&gt;".
/// Build it with the factories so the wording stays uniform.
/// </summary>
public sealed record TaskEnd(TaskState State, int? ExitCode, int? Signal, string Reason)
{
    /// <summary>The process exited: 0 is <see cref="TaskState.Succeeded"/>, anything else <see cref="TaskState.Failed"/>.</summary>
    public static TaskEnd Exited(int exitCode) =>
        new(exitCode == 0 ? TaskState.Succeeded : TaskState.Failed, exitCode, null, $"exit code {exitCode}");

    /// <summary>The process was killed by a signal nobody in Hive sent (e.g. the OOM killer's SIGKILL).</summary>
    public static TaskEnd Killed(int signal) =>
        new(TaskState.Failed, null, signal, $"killed by {Signals.Name(signal)}");

    /// <summary>The kernel's OOM killer (or the script's memory limit) ended it.</summary>
    public static TaskEnd OutOfMemory(int signal = Signals.SigKill) =>
        new(TaskState.Failed, null, signal, $"out of memory (killed by {Signals.Name(signal)})");

    public static TaskEnd TimedOut(TimeSpan after, int? signal = null) =>
        new(TaskState.TimedOut, null, signal, $"timed out after {Math.Round(after.TotalSeconds):0} s");

    /// <summary>Stopped on request; <paramref name="by"/> names who asked, when known.</summary>
    public static TaskEnd Stopped(string? by = null, int? signal = null) =>
        new(TaskState.Stopped, null, signal, string.IsNullOrWhiteSpace(by) ? "stopped by control message" : $"stopped by {by}");

    /// <summary>The owning node left the cluster or died while the task ran.</summary>
    public static TaskEnd NodeLost(string? node = null) =>
        new(TaskState.Failed, null, null, node is null ? "node lost" : $"node lost ({node})");

    public static TaskEnd Rejected(string why) => new(TaskState.Rejected, null, null, $"rejected: {why}");

    /// <summary>Attempts are spent, or the task is a poison task: it will not be retried.</summary>
    public static TaskEnd Dead(string why) => new(TaskState.Dead, null, null, why);
}

/// <summary>POSIX signal numbers (Linux) and their names, for reasons.</summary>
public static class Signals
{
    public const int SigHup = 1;
    public const int SigInt = 2;
    public const int SigQuit = 3;
    public const int SigAbrt = 6;
    public const int SigKill = 9;
    public const int SigSegv = 11;
    public const int SigPipe = 13;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    public static string Name(int signal) => signal switch
    {
        SigHup => "SIGHUP",
        SigInt => "SIGINT",
        SigQuit => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        SigAbrt => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        SigKill => "SIGKILL",
        10 => "SIGUSR1",
        SigSegv => "SIGSEGV",
        12 => "SIGUSR2",
        SigPipe => "SIGPIPE",
        14 => "SIGALRM",
        SigTerm => "SIGTERM",
        SigCont => "SIGCONT",
        SigStop => "SIGSTOP",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => $"signal {signal}",
    };
}

/// <summary>
/// The end of one task attempt: published to <c>hive.results</c> (routing key = script) and reply-to, and POSTed to responseUrl.
/// </summary>
/// <param name="TaskId">The task.</param>
/// <param name="Script">Script name (null for a shell command or a rejected message).</param>
/// <param name="State">A final state.</param>
/// <param name="ExitCode">Exit code of the last run, if it exited.</param>
/// <param name="Signal">Signal that ended the last run, if any.</param>
/// <param name="Reason">Why it ended (see <see cref="TaskEnd"/>).</param>
/// <param name="Attempt">This attempt, 1-based (0 for a rejected message).</param>
/// <param name="MaxAttempts">Attempts allowed.</param>
/// <param name="Lines">The last <c>resultLength</c> output lines of the last run.</param>
/// <param name="Result">The script's <c>##hive {"result": …}</c> object, if it printed one.</param>
/// <param name="QueuedAt">When the task was first seen.</param>
/// <param name="StartedAt">When this attempt's first run started.</param>
/// <param name="EndedAt">When this attempt ended.</param>
/// <param name="Node">The node that ran it.</param>
/// <param name="Runs">How many runs (loop iterations) ran to their end.</param>
/// <param name="RunLines">Per run, its last <c>resultLength</c> lines (the seed's <c>result0..N</c>); null when not kept.</param>
public sealed record TaskResult(
    string TaskId,
    string? Script,
    TaskState State,
    int? ExitCode,
    int? Signal,
    string Reason,
    int Attempt,
    int MaxAttempts,
    IReadOnlyList<string> Lines,
    JsonElement? Result,
    DateTimeOffset? QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? EndedAt,
    string? Node,
    int Runs,
    IReadOnlyList<IReadOnlyList<string>>? RunLines)
{
    /// <summary>A result for <paramref name="end"/>, filling the end's state, exit code, signal and reason.</summary>
    public static TaskResult From(TaskSpec spec, TaskEnd end, int attempt, IReadOnlyList<string> lines, JsonElement? result,
        DateTimeOffset? queuedAt, DateTimeOffset? startedAt, DateTimeOffset? endedAt, string? node, int runs,
        IReadOnlyList<IReadOnlyList<string>>? runLines = null) =>
        new(spec.TaskId, spec.Script, end.State, end.ExitCode, end.Signal, end.Reason, attempt, spec.MaxAttempts,
            lines, result, queuedAt, startedAt, endedAt, node, runs, runLines);

    /// <summary>The <c>rejected</c> result published for a message that could not be a task.</summary>
    public static TaskResult Rejected(string taskId, string reason, DateTimeOffset at, string? node) =>
        new(taskId, null, TaskState.Rejected, null, null, $"rejected: {reason}", 0, 0, [], null, at, null, at, node, 0, null);
}
