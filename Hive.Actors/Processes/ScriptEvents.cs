namespace Hive.Actors.Processes;

/// <summary>What the run looked like at one moment. Immutable; safe to hand to another thread or actor.</summary>
/// <param name="Pid">The script's pid (also its process group and session id).</param>
/// <param name="Lines">The last <see cref="ScriptRunOptions.ProgressLength"/> output lines, oldest first (stdout and stderr interleaved as read).</param>
/// <param name="TotalLines">Output lines seen so far, <c>##hive</c> control lines excluded.</param>
/// <param name="Progress">The latest <c>##hive {"progress": n}</c>, clamped to 0..100.</param>
/// <param name="Stage">The latest <c>##hive {"stage": "…"}</c>.</param>
/// <param name="ResultJson">The latest <c>##hive {"result": …}</c>, as raw JSON text.</param>
/// <param name="BytesRead">Bytes read from stdout and stderr.</param>
/// <param name="OutputLimitExceeded">True once <see cref="ScriptRunOptions.MaxOutputBytes"/> was passed (lines are no longer retained).</param>
/// <param name="Paused">True while the process group is stopped by <see cref="ScriptProcess.Pause"/>.</param>
/// <param name="Sequence">Increases with every change; lets a consumer drop stale snapshots.</param>
public sealed record ScriptSnapshot(
    int Pid,
    IReadOnlyList<string> Lines,
    long TotalLines,
    double? Progress,
    string? Stage,
    string? ResultJson,
    long BytesRead,
    bool OutputLimitExceeded,
    bool Paused,
    long Sequence);

/// <summary>Why Hive ended a run (None: the script ended on its own).</summary>
public enum ScriptStopReason
{
    None = 0,

    /// <summary><see cref="ScriptProcess.StopAsync"/> was called.</summary>
    Stopped = 1,

    /// <summary><see cref="ScriptRunOptions.Timeout"/> expired.</summary>
    TimedOut = 2,

    /// <summary>The <see cref="ScriptProcess"/> was disposed while the script ran (SIGKILL at once).</summary>
    Disposed = 3,
}

/// <summary>How a run ended. Sent once to <see cref="IScriptObserver.OnExit"/> and returned by <see cref="ScriptProcess.Completion"/>.</summary>
/// <param name="Pid">The script's pid.</param>
/// <param name="ExitCode">As .NET reports it: the exit status, or 128 + n when the process was killed by signal n.</param>
/// <param name="Signal">
/// n when <see cref="ExitCode"/> is 128 + n (1..64): killed by signal n, or a shell that exited with 128 + n because its
/// child was (the two are indistinguishable from .NET; both mean the same to a caller).
/// </param>
/// <param name="StopReason">Whether Hive ended the run, and why.</param>
/// <param name="ForceKilled">True when SIGKILL had to be sent (grace expired, or disposal).</param>
/// <param name="StartedAt">When the process started.</param>
/// <param name="ExitedAt">When its main process exited.</param>
/// <param name="Final">The last snapshot, taken after all output was drained.</param>
public sealed record ScriptExit(
    int Pid,
    int ExitCode,
    int? Signal,
    ScriptStopReason StopReason,
    bool ForceKilled,
    DateTimeOffset StartedAt,
    DateTimeOffset ExitedAt,
    ScriptSnapshot Final)
{
    public TimeSpan Duration => ExitedAt - StartedAt;

    /// <summary>Exit code 0 and not ended by Hive.</summary>
    public bool Succeeded => ExitCode == 0 && StopReason == ScriptStopReason.None;

    /// <summary>The last <paramref name="count"/> output lines (the task's <c>resultLength</c>).</summary>
    public IReadOnlyList<string> TailLines(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var lines = Final.Lines;
        return count >= lines.Count ? lines : [.. lines.Skip(lines.Count - count)];
    }
}

/// <summary>
/// Receives a run's progress. Called from thread-pool threads (never concurrently for one run, never while the
/// runner holds a lock); implementations must return quickly — an actor implements it with <c>Self.Tell</c>.
/// <see cref="OnSnapshot"/> comes at most once per <see cref="ScriptRunOptions.NotifyInterval"/>; <see cref="OnExit"/>
/// exactly once, last. Exceptions thrown by the observer are swallowed.
/// </summary>
public interface IScriptObserver
{
    void OnSnapshot(ScriptSnapshot snapshot);

    void OnExit(ScriptExit exit);
}

/// <summary>Thrown by <see cref="ScriptProcess.Start"/> when the process cannot be started.</summary>
public sealed class ScriptStartException(string message, Exception? inner = null) : Exception(message, inner);
