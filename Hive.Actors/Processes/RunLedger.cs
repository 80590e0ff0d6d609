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
/// <para>The file is a log of lines. A run's start is <c>&lt;boot-id&gt; &lt;pgid&gt; &lt;start-time&gt; &lt;run-id&gt; &lt;working-directory&gt;</c>
/// (<see cref="RunLedgerEntry.ToLine"/>), its end is <c>- &lt;run-id&gt;</c>; replaying the log (<see cref="ReadFile"/>) gives the runs
/// started and not ended. The start time is field 22 of <c>/proc/&lt;pid&gt;/stat</c> (clock ticks since boot) and the boot id is
/// <c>/proc/sys/kernel/random/boot_id</c>, so a pid the kernel has recycled since (or a ledger that outlived a reboot) is never
/// mistaken for the script. Stragglers whose leader already died, or that left the group, are found by the run's
/// <c>HIVE_RUN_ID</c> token in their environment (see <see cref="ProcessTree"/>).</para>
/// <para>Each start and end is one append: one <c>write</c> of the whole line to a file kept open, no fsync (the ledger guards
/// against the node being killed, not against the machine crashing: the page cache survives the former). A torn last line
/// (a write cut short) is ignored by the replay. Once the lines appended since the last compaction exceed
/// max(64, 4 × the runs open), the file is rewritten (temp file + rename) with only the open runs, so it stays proportional
/// to the runs open and a start or end costs O(1) amortised. The first write of an instance and the first write after a
/// failed one also rewrite it, from memory. A ledger failure never stops a run: <see cref="Track"/> reports it. Safe to call
/// from any thread; the lock is held for the in-memory update and the append (or, now and then, the compaction).</para>
/// <para>The remaining gap: between the node's death and its next start, orphans keep running (and their tasks may meanwhile
/// be re-run on another node). A node that never comes back under the same name and work dir never sweeps them. Under the
/// systemd unit in <c>deploy/</c> the cgroup is the backstop: systemd stops what is left of the unit's cgroup before it
/// restarts the node. A run started in the instant between the fork and its ledger write is not recorded.</para>
/// </remarks>
public sealed class RunLedger
{
    private const string EndMarker = "- ";
    private const int MinCompactionInterval = 64;

    private static readonly Lazy<string> CachedBootId = new(ReadBootId);

    private readonly object _gate = new();
    private readonly Dictionary<string, RunLedgerEntry> _entries = new(StringComparer.Ordinal);

    // The open ledger file, written at its end; null before the first write and after a failed one (the next write then
    // rewrites the file from _entries).
    private FileStream? _log;

    // Lines appended since the file was last rewritten.
    private int _appended;

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

    /// <summary>The runs recorded now (in memory; replaying the file gives the same runs).</summary>
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
        // The leader's start time was read right after the spawn; its pid cannot be reused before Completion (the exited leader
        // is kept as a zombie until its tree is gone, see ExitWatcher), so the identity needs no second look at /proc.
        if (!process.HasExited && process.LeaderStartTime is { } startTime)
            error = Record(new RunLedgerEntry(BootId(), process.Pid, startTime, process.RunId, process.WorkingDirectory));

        process.Completion.ContinueWith(_ => Remove(process.RunId), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return error;
    }

    /// <summary>
    /// Records a run whose identity is already known (<see cref="Track"/> reads it from the live process and calls this);
    /// <see cref="Remove"/> forgets it. Returns null when recorded, else why not: an entry that does not fit on one ledger
    /// line (a line break anywhere, a space in the boot or run id, a boot id "-") is refused; one whose write failed is kept
    /// in memory and written by the next successful write.
    /// </summary>
    public string? Record(RunLedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var line = entry.ToLine();
        if (line.AsSpan().IndexOfAny('\n', '\r') >= 0 || line.StartsWith(EndMarker, StringComparison.Ordinal) || RunLedgerEntry.TryParse(line) != entry)
            return $"cannot record run '{entry.RunId}' in the run ledger '{Path}': it does not fit on one ledger line";
        var bytes = Encode(line);
        lock (_gate)
        {
            _entries[entry.RunId] = entry;
            return Write(bytes);
        }
    }

    /// <summary>Forgets a run (its tree is gone). A failed write is repaired by the next one.</summary>
    public void Remove(string runId)
    {
        ArgumentNullException.ThrowIfNull(runId);
        var bytes = Encode(EndMarker + runId);
        lock (_gate)
        {
            if (_entries.Remove(runId)) Write(bytes);
        }
    }

    /// <summary>
    /// Reads the ledger file and replays it: the runs started and not ended. Unreadable lines, and a last line without its
    /// line break (torn by a crash), are skipped. Empty when there is no file.
    /// </summary>
    public IReadOnlyList<RunLedgerEntry> ReadFile()
    {
        byte[] bytes;
        try
        {
            using var file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            using var content = new MemoryStream();
            file.CopyTo(content);
            bytes = content.ToArray();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }

        return Replay(bytes);
    }

    /// <summary>
    /// Kills (SIGKILL) every process group a previous incarnation of this node recorded whose leader is still the same
    /// process (same boot, pid and start time), and every other live process carrying one of their run ids; deletes their
    /// working directories unless <paramref name="keepWorkingDirectories"/>; then empties the ledger and opens it for this
    /// incarnation's runs. Call it at node start, before the node takes tasks. Throws only when the ledger exists but cannot
    /// be read or emptied.
    /// </summary>
    public LedgerSweep SweepOrphans(bool keepWorkingDirectories = false)
    {
        lock (_gate)
        {
            var recorded = ReadFile();
            if (recorded.Count == 0)
            {
                var existed = File.Exists(Path);
                try
                {
                    Compact();
                }
                catch (Exception e) when (!existed && e is IOException or UnauthorizedAccessException)
                {
                    // Nothing to empty; the first run's write tries again.
                }

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
            Compact();
            return new LedgerSweep(recorded, liveGroups, stragglers);
        }
    }

    /// <summary>Field 22 of <c>/proc/&lt;pid&gt;/stat</c> (start time in clock ticks since boot); null when the process is gone.</summary>
    public static ulong? ReadStartTime(int pid) =>
        ProcessTree.Read(pid) is { StartTime: var start } && start != ulong.MaxValue ? start : null;

    private static byte[] Encode(string line) => Encoding.UTF8.GetBytes(line + "\n");

    private static List<RunLedgerEntry> Replay(byte[] bytes)
    {
        // Only whole lines count: a last line without its '\n' is a write the node's death cut short.
        var complete = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        var open = new Dictionary<string, RunLedgerEntry>(StringComparer.Ordinal);
        foreach (var raw in Encoding.UTF8.GetString(bytes, 0, complete).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith(EndMarker, StringComparison.Ordinal))
                open.Remove(line[EndMarker.Length..]);
            else if (RunLedgerEntry.TryParse(line) is { } entry)
                open[entry.RunId] = entry;
        }

        return open.Values.ToList();
    }

    // Under _gate. Appends one line, or rewrites the file from memory when it is not open (first write, or the last one
    // failed) or when enough lines have piled up since the last rewrite.
    private string? Write(byte[] line)
    {
        try
        {
            if (_log is null || _appended >= Math.Max(MinCompactionInterval, 4 * _entries.Count))
            {
                Compact();
            }
            else
            {
                _log.Write(line);
                _log.Flush();
                _appended++;
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The file may now end in a torn line: write nothing more after it; the next write rewrites the file instead.
            CloseLog();
            return $"cannot write the run ledger '{Path}': {e.Message}";
        }
    }

    // Under _gate. Rewrites the file with the open runs only (temp file + rename, so it is never half-written) and keeps the
    // temp file's handle, which now is the ledger, open for the appends that follow.
    private void Compact()
    {
        CloseLog();
        var text = new StringBuilder(_entries.Count * 128);
        foreach (var entry in _entries.Values) text.Append(entry.ToLine()).Append('\n');
        var bytes = Encoding.UTF8.GetBytes(text.ToString());

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var temp = Path + ".tmp";
        var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        try
        {
            stream.Write(bytes);
            stream.Flush();
            File.Move(temp, Path, overwrite: true);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        _log = stream;
        _appended = 0;
    }

    private void CloseLog()
    {
        var log = _log;
        _log = null;
        try
        {
            log?.Dispose();
        }
        catch (IOException)
        {
            // Nothing is buffered (bufferSize 0); the handle is gone either way.
        }
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

    private static byte[]? ReadEnviron(int pid) => ProcFile.ReadBytes($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ");

    private static IEnumerable<int> AllPids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = System.IO.Path.GetFileName(dir);
            if (name.Length > 0 && char.IsAsciiDigit(name[0]) && int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                yield return pid;
        }
    }

    // The boot id cannot change while this process lives.
    private static string BootId() => CachedBootId.Value;

    private static string ReadBootId()
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
