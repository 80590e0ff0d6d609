using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Hive.Actors.Processes;

/// <summary>
/// Finds every live process that belongs to one run by reading <c>/proc</c>. A run's processes are:
/// the members of its process group and session (pgid = sid = the script's pid, thanks to setsid);
/// the descendants of its main process (ppid chain, while it has not been reaped);
/// and every process whose environment carries the run's <c>HIVE_RUN_ID</c> token — which catches grandchildren
/// that called setsid themselves and were re-parented after their parent died (double-forked daemons).
/// Only a process that both leaves the session and clears its environment can escape; see the Processes README.
/// <para>
/// When this process is a child subreaper (<see cref="EnsureSubreaper"/>; the normal case on Linux), every orphaned descendant
/// of a script is re-parented to the node instead of init, so a run's processes are always found by walking down from the
/// script and from the node's own children that are not script leaders — a few <c>/proc/&lt;pid&gt;/task/*/children</c>
/// reads, instead of reading the <c>stat</c> (and <c>environ</c>) of every process on the machine, which grew with the
/// number of scripts running and made 1,000 concurrent scripts cost millions of reads.
/// </para>
/// </summary>
internal static class ProcessTree
{
    internal const string RunIdVariable = "HIVE_RUN_ID";

    private static readonly ConcurrentDictionary<int, byte> Leaders = new();
    private static readonly ConcurrentDictionary<(int Pid, ulong Start), long> ZombiesSeen = new();
    private static readonly TimeSpan StrayZombieAge = TimeSpan.FromSeconds(2);
    private static readonly Lazy<bool> Subreaper = new(() =>
        Native.BecomeChildSubreaper() && File.Exists($"/proc/self/task/{Environment.ProcessId}/children"));

    /// <summary>Makes the node the subreaper of its scripts' orphans (once); false when the kernel does not allow it (then every scan reads all of /proc).</summary>
    public static bool EnsureSubreaper() => Subreaper.Value;

    /// <summary>A script started by this node (its session leader); such children of the node are never taken for orphans.</summary>
    internal static void AddLeader(int pid) => Leaders[pid] = 0;

    internal static void RemoveLeader(int pid) => Leaders.TryRemove(pid, out _);

    /// <param name="StartTime">Field 22 of stat (clock ticks after boot); <see cref="ulong.MaxValue"/> when unreadable.</param>
    internal readonly record struct ProcInfo(int Pid, int ParentPid, int Group, int Session, char State, ulong StartTime);

    /// <summary>The run's live (non-zombie) processes, excluding this process.</summary>
    /// <param name="notBefore">
    /// The leader's start time (stat field 22). A process carrying the run's id was forked after the leader started, so only
    /// processes started at or after it need their environment read — the expensive part of a scan on a busy machine.
    /// </param>
    public static List<ProcInfo> FindRunProcesses(int leaderPid, string runId, ulong? notBefore = null) =>
        Subreaper.IsValueCreated && Subreaper.Value ? WalkRun(leaderPid, runId) : ScanRun(leaderPid, runId, notBefore);

    /// <summary>
    /// The subreaper walk: the leader's descendants, plus the subtrees of the node's non-leader children (orphans) that carry
    /// the run's session, group or id. Zombie orphans of the run are reaped here (nobody else waits for them).
    /// </summary>
    internal static List<ProcInfo> WalkRun(int leaderPid, string runId)
    {
        var self = Environment.ProcessId;
        var members = new Dictionary<int, ProcInfo>();
        var queue = new Queue<int>();
        if (Read(leaderPid) is { } leader)
        {
            members[leaderPid] = leader;
            // A dead leader's children were re-parented when it died: they are among the node's own children below.
            if (leader.State is not ('Z' or 'X')) queue.Enqueue(leaderPid);
        }

        byte[]? needle = null;
        foreach (var child in OrphansAndChildrenOfMainThread(self))
        {
            if (child == leaderPid || Leaders.ContainsKey(child) || Read(child) is not { } p) continue;
            var ours = p.Group == leaderPid || p.Session == leaderPid;
            if (!ours && p.State is 'Z' or 'X') ReapIfStray(p);
            if (!ours && p.State is not ('Z' or 'X'))
                ours = EnvironContains(child, needle ??= Encoding.ASCII.GetBytes($"{RunIdVariable}={runId}"));
            if (!ours) continue;
            if (p.State is 'Z' or 'X')
            {
                Native.Reap(child);
                continue;
            }

            members[child] = p;
            queue.Enqueue(child);
        }

        while (queue.Count > 0)
        {
            foreach (var kid in ChildrenOf(queue.Dequeue()))
            {
                if (members.ContainsKey(kid) || Read(kid) is not { } p) continue;
                members[kid] = p;
                queue.Enqueue(kid);
            }
        }

        return [.. members.Values.Where(p => p.State != 'Z' && p.State != 'X')];
    }

    /// <summary>
    /// An orphan that ended on its own (a daemon that left the session) is a zombie of the node that no run can claim: its
    /// environment is gone with it. System.Diagnostics.Process reaps its own children within milliseconds, so a zombie child
    /// of the node that is still there two seconds after it was first seen is nobody's: reap it, or they pile up.
    /// </summary>
    private static void ReapIfStray(ProcInfo zombie)
    {
        var now = Environment.TickCount64;
        if (ZombiesSeen.Count > 10_000) ZombiesSeen.Clear(); // entries of zombies someone else reaped
        var first = ZombiesSeen.GetOrAdd((zombie.Pid, zombie.StartTime), now);
        if (now - first < StrayZombieAge.TotalMilliseconds) return;
        Native.Reap(zombie.Pid);
        ZombiesSeen.TryRemove((zombie.Pid, zombie.StartTime), out _);
    }

    /// <summary>
    /// The children of the node's main thread. The kernel re-parents an orphan to the first live thread of its subreaper,
    /// which is the main thread (it lives as long as the node), so every orphan of a script is here; scripts the node
    /// started are children of whichever thread spawned them (and are known leaders anyway). One read instead of one per
    /// node thread; all threads are read only if the main thread's list cannot be.
    /// </summary>
    private static List<int> OrphansAndChildrenOfMainThread(int self)
    {
        var id = self.ToString(CultureInfo.InvariantCulture);
        return ProcFile.ReadText($"/proc/{id}/task/{id}/children") is { } text ? ParsePids(text, []) : ChildrenOf(self);
    }

    private static List<int> ParsePids(string text, List<int> into)
    {
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) into.Add(pid);
        return into;
    }

    /// <summary>The pids whose parent is <paramref name="pid"/> (any of its threads); empty when it is gone.</summary>
    private static List<int> ChildrenOf(int pid)
    {
        var result = new List<int>();
        IEnumerable<string> tasks;
        try
        {
            tasks = Directory.EnumerateDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return result;
        }

        foreach (var task in tasks)
            if (ProcFile.ReadText(task + "/children") is { } text) ParsePids(text, result);

        return result;
    }

    /// <summary>The full scan (no subreaper): every process on the machine is read.</summary>
    internal static List<ProcInfo> ScanRun(int leaderPid, string runId, ulong? notBefore)
    {
        var all = ReadAll();
        var self = Environment.ProcessId;
        var members = new Dictionary<int, ProcInfo>();
        var children = new Dictionary<int, List<ProcInfo>>();
        foreach (var p in all)
        {
            if (!children.TryGetValue(p.ParentPid, out var list)) children[p.ParentPid] = list = [];
            list.Add(p);
            if (p.Group == leaderPid || p.Session == leaderPid || p.Pid == leaderPid) members[p.Pid] = p;
        }

        // Descendants of anything found so far (covers children that changed group or session).
        var queue = new Queue<int>(members.Keys);
        while (queue.Count > 0)
        {
            if (!children.TryGetValue(queue.Dequeue(), out var kids)) continue;
            foreach (var kid in kids)
                if (members.TryAdd(kid.Pid, kid)) queue.Enqueue(kid.Pid);
        }

        var needle = Encoding.ASCII.GetBytes($"{RunIdVariable}={runId}");
        foreach (var p in all)
        {
            if (members.ContainsKey(p.Pid) || p.Pid == self || p.Pid == 1) continue;
            if (notBefore is { } earliest && p.StartTime < earliest) continue;
            if (EnvironContains(p.Pid, needle))
            {
                members[p.Pid] = p;
                queue.Enqueue(p.Pid);
            }
        }

        while (queue.Count > 0)
        {
            if (!children.TryGetValue(queue.Dequeue(), out var kids)) continue;
            foreach (var kid in kids)
                if (members.TryAdd(kid.Pid, kid)) queue.Enqueue(kid.Pid);
        }

        members.Remove(self);
        return [.. members.Values.Where(p => p.State != 'Z' && p.State != 'X')];
    }

    /// <summary>One process's <c>/proc/&lt;pid&gt;/stat</c> fields, or null when it is gone.</summary>
    public static ProcInfo? Read(int pid) =>
        ProcFile.ReadText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat") is { } stat ? Parse(pid, stat) : null;

    private static List<ProcInfo> ReadAll()
    {
        var result = new List<ProcInfo>(256);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir.AsSpan());
            if (name.IsEmpty || !char.IsAsciiDigit(name[0]) || !int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (Read(pid) is { } info) result.Add(info);
        }

        return result;
    }

    private static ProcInfo? Parse(int pid, string stat)
    {
        // "pid (comm) state ppid pgrp session ..." — comm may contain spaces and parentheses: split after the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat.AsSpan(close + 1).Trim();
        Span<Range> parts = stackalloc Range[21];
        var count = fields.Split(parts, ' ', StringSplitOptions.RemoveEmptyEntries);
        if (count < 4) return null;
        var state = fields[parts[0]][0];
        if (!int.TryParse(fields[parts[1]], CultureInfo.InvariantCulture, out var ppid)) return null;
        if (!int.TryParse(fields[parts[2]], CultureInfo.InvariantCulture, out var pgrp)) return null;
        if (!int.TryParse(fields[parts[3]], CultureInfo.InvariantCulture, out var session)) return null;
        var start = count >= 20 && ulong.TryParse(fields[parts[19]], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : ulong.MaxValue;
        return new ProcInfo(pid, ppid, pgrp, session, state, start);
    }

    // The run id is a fresh GUID, so a plain substring match cannot hit another run.
    private static bool EnvironContains(int pid, byte[] needle) =>
        ProcFile.ReadBytes($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ") is { } environ && environ.AsSpan().IndexOf(needle) >= 0;
}
