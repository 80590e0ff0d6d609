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
/// </summary>
internal static class ProcessTree
{
    internal const string RunIdVariable = "HIVE_RUN_ID";

    /// <param name="StartTime">Field 22 of stat (clock ticks after boot); <see cref="ulong.MaxValue"/> when unreadable.</param>
    internal readonly record struct ProcInfo(int Pid, int ParentPid, int Group, int Session, char State, ulong StartTime);

    /// <summary>The run's live (non-zombie) processes, excluding this process.</summary>
    /// <param name="notBefore">
    /// The leader's start time (stat field 22). A process carrying the run's id was forked after the leader started, so only
    /// processes started at or after it need their environment read — the expensive part of a scan on a busy machine.
    /// </param>
    public static List<ProcInfo> FindRunProcesses(int leaderPid, string runId, ulong? notBefore = null)
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
    public static ProcInfo? Read(int pid)
    {
        try
        {
            return Parse(pid, File.ReadAllText($"/proc/{pid}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

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

    private static bool EnvironContains(int pid, byte[] needle)
    {
        try
        {
            // The run id is a fresh GUID, so a plain substring match cannot hit another run.
            return File.ReadAllBytes($"/proc/{pid}/environ").AsSpan().IndexOf(needle) >= 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
