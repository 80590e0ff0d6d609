using System.Globalization;
using System.Text;

namespace Hive.Actors.Processes;

/// <summary>
/// A node's ledger of the script process groups it is running, kept in one small file,
/// <c>&lt;work-dir&gt;/&lt;node-name&gt;.runs</c>. Scripts run in their own session (setsid), so nothing kills them when the
/// node itself dies without cleaning up (SIGKILL, OOM killer, a crash): they would live on as orphans, and their tasks
/// would meanwhile be re-run elsewhere. The ledger closes that hole at the node's next start: <see cref="SweepOrphans"/>
/// kills every group a previous incarnation of the same node left behind, before the node takes tasks.
/// </summary>
/// <remarks>
/// <para>One line per running group: <c>&lt;boot-id&gt; &lt;pgid&gt; &lt;start-time&gt; &lt;run-id&gt; &lt;working-directory&gt;</c>. The start time is
/// field 22 of <c>/proc/&lt;pid&gt;/stat</c> (clock ticks since boot) and the boot id is <c>/proc/sys/kernel/random/boot_id</c>, so
/// a pid the kernel has recycled since (or a ledger that outlived a reboot) is never mistaken for the script.
/// Stragglers whose leader already died, or that left the group, are found by the run's <c>HIVE_RUN_ID</c> token in their
/// environment (see <see cref="ProcessTree"/>).</para>
/// <para>The whole file is rewritten (temp file + rename) on every change, so it is never half-written; it holds at most one
/// line per guide. Writes are synchronous and tiny. A ledger failure never stops a run: <see cref="Track"/> reports it.</para>
/// <para>The remaining gap: between the node's death and its next start, orphans keep running (and their tasks may meanwhile
/// be re-run on another node). A node that never comes back under the same name and work dir never sweeps them. Under the
/// systemd unit in <c>deploy/</c> the cgroup is the backstop: systemd stops what is left of the unit's cgroup before it
/// restarts the node. A run started in the instant between the fork and its ledger write is not recorded.</para>
/// </remarks>
public sealed class RunLedger
{
    private readonly object _gate = new();
    private readonly Dictionary<string, RunLedgerEntry> _entries = new(StringComparer.Ordinal);

    /// <param name="path">The ledger file.</param>
    /// <param name="workRoot">The work root; only working directories under it are ever deleted by a sweep.</param>
    public RunLedger(string path, string workRoot)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(workRoot);
        Path = System.IO.Path.GetFullPath(path);
        WorkRoot = System.IO.Path.GetFullPath(workRoot);
    }

    /// <summary>The ledger file.</summary>
    public string Path { get; }

    /// <summary>The node's work root.</summary>
    public string WorkRoot { get; }

    /// <summary>The ledger of node <paramref name="nodeName"/>: <c>&lt;workRoot&gt;/&lt;node-name&gt;.runs</c> (the name made file-safe).</summary>
    public static RunLedger ForNode(string workRoot, string nodeName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workRoot);
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeName);
        var safe = new StringBuilder(nodeName.Length);
        foreach (var c in nodeName) safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        if (safe[0] == '.') safe.Insert(0, '_');
        return new RunLedger(System.IO.Path.Combine(workRoot, safe + ".runs"), workRoot);
    }

    /// <summary>The runs recorded now (in memory; the file mirrors them).</summary>
    public IReadOnlyList<RunLedgerEntry> Entries
    {
        get { lock (_gate) return _entries.Values.ToArray(); }
    }

    /// <summary>
    /// Records a run that has just started and removes it once the run is over (<see cref="ScriptProcess.Completion"/>, i.e.
    /// its whole tree is gone). Returns null when recorded (or when the process already ended: nothing to record), else
    /// why it could not be recorded; the run goes on either way.
    /// </summary>
    public string? Track(ScriptProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        string? error = null;
        // Read the leader's identity now; the process cannot have been reaped and its pid reused while Completion is pending,
        // but to be sure the stat read belongs to this run, its environment must carry the run id.
        if (!process.HasExited && ReadStartTime(process.Pid) is { } startTime && ProcessCarriesRun(process.Pid, process.RunId))
        {
            var entry = new RunLedgerEntry(BootId(), process.Pid, startTime, process.RunId, process.WorkingDirectory);
            lock (_gate)
            {
                _entries[entry.RunId] = entry;
                error = TryWrite();
            }
        }

        process.Completion.ContinueWith(_ => Remove(process.RunId), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return error;
    }

    /// <summary>Forgets a run (its tree is gone). A failed write is repaired by the next one.</summary>
    public void Remove(string runId)
    {
        lock (_gate)
        {
            if (_entries.Remove(runId)) TryWrite();
        }
    }

    /// <summary>Reads the ledger file; unreadable lines are skipped. Empty when there is no file.</summary>
    public IReadOnlyList<RunLedgerEntry> ReadFile()
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(Path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }

        var entries = new List<RunLedgerEntry>(lines.Length);
        foreach (var line in lines)
            if (RunLedgerEntry.TryParse(line) is { } entry) entries.Add(entry);
        return entries;
    }

    /// <summary>
    /// Kills (SIGKILL) every process group a previous incarnation of this node recorded whose leader is still the same
    /// process (same boot, pid and start time), and every other live process carrying one of their run ids; deletes their
    /// working directories unless <paramref name="keepWorkingDirectories"/>; then empties the ledger. Call it at node start,
    /// before the node takes tasks. Throws only when the ledger exists but cannot be read or emptied.
    /// </summary>
    public LedgerSweep SweepOrphans(bool keepWorkingDirectories = false)
    {
        lock (_gate)
        {
            var recorded = ReadFile();
            if (recorded.Count == 0)
            {
                if (File.Exists(Path)) WriteLines([]);
                return new LedgerSweep(recorded, [], 0);
            }

            var boot = BootId();
            var liveGroups = recorded.Where(e => e.BootId == boot && ReadStartTime(e.ProcessGroup) == e.StartTime).ToArray();
            foreach (var group in liveGroups) Native.Kill(-group.ProcessGroup, Native.SIGKILL);

            var stragglers = 0;
            if (recorded.Any(e => e.BootId == boot))
            {
                var needles = recorded.Where(e => e.BootId == boot)
                    .Select(e => Encoding.ASCII.GetBytes($"{ProcessTree.RunIdVariable}={e.RunId}\0")).ToArray();
                foreach (var pid in AllPids())
                {
                    if (pid == Environment.ProcessId) continue;
                    var environ = ReadEnviron(pid);
                    if (environ is null) continue;
                    foreach (var needle in needles)
                    {
                        if (environ.AsSpan().IndexOf(needle) < 0) continue;
                        if (Native.Kill(pid, Native.SIGKILL) == 0) stragglers++;
                        break;
                    }
                }
            }

            if (!keepWorkingDirectories)
                foreach (var entry in recorded) TryDeleteWorkingDirectory(entry.WorkingDirectory);

            _entries.Clear();
            WriteLines([]);
            return new LedgerSweep(recorded, liveGroups, stragglers);
        }
    }

    /// <summary>Field 22 of <c>/proc/&lt;pid&gt;/stat</c> (start time in clock ticks since boot); null when the process is gone.</summary>
    public static ulong? ReadStartTime(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid …": comm may hold spaces and parentheses, so count fields after the last ')'.
        // After it come fields 3 (state) … 52; the start time is field 22, the 20th after the ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat.AsSpan(close + 1).Trim();
        Span<Range> parts = stackalloc Range[21];
        if (fields.Split(parts, ' ', StringSplitOptions.RemoveEmptyEntries) < 20) return null;
        return ulong.TryParse(fields[parts[19]], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    private string? TryWrite()
    {
        try
        {
            WriteLines(_entries.Values.Select(e => e.ToLine()));
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot write the run ledger '{Path}': {e.Message}";
        }
    }

    private void WriteLines(IEnumerable<string> lines)
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        var temp = Path + ".tmp";
        File.WriteAllLines(temp, lines);
        File.Move(temp, Path, overwrite: true);
    }

    private void TryDeleteWorkingDirectory(string directory)
    {
        try
        {
            var full = System.IO.Path.GetFullPath(directory);
            var root = WorkRoot.EndsWith('/') ? WorkRoot : WorkRoot + "/";
            if (full.StartsWith(root, StringComparison.Ordinal) && full.Length > root.Length && Directory.Exists(full))
                Directory.Delete(full, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Best effort: the work root is scratch space.
        }
    }

    private static bool ProcessCarriesRun(int pid, string runId) =>
        ReadEnviron(pid) is { } environ && environ.AsSpan().IndexOf(Encoding.ASCII.GetBytes($"{ProcessTree.RunIdVariable}={runId}\0")) >= 0;

    private static byte[]? ReadEnviron(int pid)
    {
        try
        {
            return File.ReadAllBytes($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IEnumerable<int> AllPids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = System.IO.Path.GetFileName(dir);
            if (name.Length > 0 && char.IsAsciiDigit(name[0]) && int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                yield return pid;
        }
    }

    private static string BootId()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }
}

/// <summary>One running process group in a <see cref="RunLedger"/>.</summary>
/// <param name="BootId">The kernel's boot id when it was recorded.</param>
/// <param name="ProcessGroup">The script's pid, which is its process-group and session id.</param>
/// <param name="StartTime">Field 22 of the leader's <c>/proc/&lt;pid&gt;/stat</c>.</param>
/// <param name="RunId">The run's <c>HIVE_RUN_ID</c>.</param>
/// <param name="WorkingDirectory">The run's working directory.</param>
public sealed record RunLedgerEntry(string BootId, int ProcessGroup, ulong StartTime, string RunId, string WorkingDirectory)
{
    public string ToLine() => string.Create(CultureInfo.InvariantCulture, $"{BootId} {ProcessGroup} {StartTime} {RunId} {WorkingDirectory}");

    /// <summary>Parses a ledger line; null when it is not one.</summary>
    public static RunLedgerEntry? TryParse(string line)
    {
        var parts = line.Split(' ', 5);
        if (parts.Length != 5 || parts[0].Length == 0 || parts[3].Length == 0 || parts[4].Length == 0) return null;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var group) || group <= 1) return null;
        if (!ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var start)) return null;
        return new RunLedgerEntry(parts[0], group, start, parts[3], parts[4]);
    }
}

/// <summary>What <see cref="RunLedger.SweepOrphans"/> found and did.</summary>
/// <param name="Recorded">Every run the ledger held.</param>
/// <param name="Killed">The runs whose process group was still alive and was SIGKILLed.</param>
/// <param name="Stragglers">Processes found by one of the runs' ids and SIGKILLed (members of a killed group that were still dying count too).</param>
public sealed record LedgerSweep(IReadOnlyList<RunLedgerEntry> Recorded, IReadOnlyList<RunLedgerEntry> Killed, int Stragglers);
