namespace Hive.Actors.Processes;

/// <summary>Immutable options of one <see cref="ScriptProcess"/> run.</summary>
public sealed record ScriptRunOptions
{
    public static ScriptRunOptions Default { get; } = new();

    /// <summary>How many of the last output lines are kept (the task's <c>progressLength</c>).</summary>
    public int ProgressLength { get; init; } = 20;

    /// <summary>Longer lines are cut to this many bytes (a cut line ends with "…"); <c>##hive</c> lines included.</summary>
    public int MaxLineLength { get; init; } = 64 * 1024;

    /// <summary>The observer gets at most one snapshot per interval, and only when something changed.</summary>
    public TimeSpan NotifyInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Grace between SIGTERM and SIGKILL when the run is stopped by <see cref="Timeout"/>.</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Output (stdout + stderr bytes) retained per run; beyond it lines are counted and drained but no longer kept. 0 = unlimited.</summary>
    public long MaxOutputBytes { get; init; }

    /// <summary>
    /// Data segment limit of the run in bytes (<c>RLIMIT_DATA</c>: heap and private writable mappings), set by starting
    /// it through util-linux <c>prlimit</c>, which execs in place. Null = the node's own limit.
    /// </summary>
    public long? MemoryLimitBytes { get; init; }

    /// <summary>util-linux <c>prlimit</c>, used to apply <see cref="MemoryLimitBytes"/> without a shell.</summary>
    public string PrlimitPath { get; init; } = "/usr/bin/prlimit";

    /// <summary>Wall-clock limit of the run (pauses included); on expiry the run is stopped and its exit says <see cref="ScriptStopReason.TimedOut"/>. Null = none.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Keep the run's own working directory after the run (for debugging).</summary>
    public bool KeepWorkingDirectory { get; init; }

    /// <summary>After the script's main process exits, how long to wait for its pipes to close before giving up on the rest of the output.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The user the script runs as (<c>hive.tasks.run-as-user</c>); null = the node's own user. When set, the run's
    /// working folder is given to this user and the script is started as <c>setpriv --reuid --regid --init-groups --
    /// program args…</c> (setpriv execs in place: the pid is still the session and group id).
    /// </summary>
    public ScriptUser? RunAs { get; init; }

    /// <summary>util-linux <c>setpriv</c>, used to switch to <see cref="RunAs"/> without a shell.</summary>
    public string SetprivPath { get; init; } = "/usr/bin/setpriv";

    /// <summary>
    /// The child inherits the node's environment except variables starting with one of these prefixes (the node's
    /// own configuration, which may hold credentials); the launch's variables (<c>HIVE_TASK_ID</c>, …) are set after.
    /// </summary>
    public IReadOnlyList<string> ScrubbedVariablePrefixes { get; init; } = ["HIVE_"];

    public ScriptRunOptions WithProgressLength(int lines) => this with { ProgressLength = lines };

    public ScriptRunOptions WithTimeout(TimeSpan? timeout) => this with { Timeout = timeout };

    public ScriptRunOptions WithStopGracePeriod(TimeSpan grace) => this with { StopGracePeriod = grace };

    public ScriptRunOptions WithMaxOutputBytes(long bytes) => this with { MaxOutputBytes = bytes };

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ProgressLength, nameof(ProgressLength));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ProgressLength, 100_000, nameof(ProgressLength));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxLineLength, 16 * 1024 * 1024, nameof(MaxLineLength));
        ArgumentNullException.ThrowIfNull(ScrubbedVariablePrefixes, nameof(ScrubbedVariablePrefixes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLineLength, 16, nameof(MaxLineLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(NotifyInterval, TimeSpan.FromMilliseconds(1), nameof(NotifyInterval));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(NotifyInterval, TimeSpan.FromDays(1), nameof(NotifyInterval));
        ArgumentOutOfRangeException.ThrowIfNegative(StopGracePeriod.Ticks, nameof(StopGracePeriod));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxOutputBytes, nameof(MaxOutputBytes));
        if (MemoryLimitBytes is { } limit) ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1, nameof(MemoryLimitBytes));
        if (Timeout is { } t) ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(t, TimeSpan.Zero, nameof(Timeout));
        ArgumentOutOfRangeException.ThrowIfNegative(DrainTimeout.Ticks, nameof(DrainTimeout));
        ArgumentException.ThrowIfNullOrWhiteSpace(SetprivPath, nameof(SetprivPath));
    }
}
