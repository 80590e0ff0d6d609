using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Hive.Actors.Processes;

/// <summary>
/// Creates and removes the per-run working folders. Each run gets a fresh folder (its own name, empty, mode 0700, owned
/// by the script's user), but the empty folder a finished run leaves is kept under a spare name and renamed into place
/// for a later run instead of being removed and created again. Creating a folder allocates an inode, and ext4 without a
/// journal (common on cloud VM disks) skips every inode freed in the last minute when it allocates one: at hundreds of
/// runs a second, mkdir cost more CPU than starting the script (docs/performance.md). A folder the script left files
/// in, or gave extended attributes (an ACL), is removed as before and never reused.
/// </summary>
internal static class RunDirectories
{
    private const UnixFileMode PrivateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const string SparePrefix = ".spare-";

    /// <summary>Spare folders kept per work root unless a node runs more at once (<see cref="KeepSparesFor"/>).</summary>
    internal const int DefaultMaxSpares = 256;

    private static int _maxSpares = DefaultMaxSpares;

    // A queue, not a bag: ConcurrentBag.Count takes every thread's lock, and each finished run asks for the count.
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<string>> Spares = new(StringComparer.Ordinal);
    private static long _sequence;

    [DllImport("libc", EntryPoint = "listxattr", SetLastError = true)]
    private static extern nint SysListXattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr list, nint size);

    /// <summary>Spare folders kept per work root; more finished runs than this at once are removed.</summary>
    internal static int MaxSpares => Volatile.Read(ref _maxSpares);

    /// <summary>
    /// Keeps a spare for each of <paramref name="concurrentRuns"/> runs (a node's guides): a node whose guides all end a run
    /// at once then creates no folder for the next round. With 256 spares, 1,000 guides removed 744 folders per round and
    /// made 744 new ones, and ext4's inode allocation, scanning past the recently removed, took 15 % of the node's CPU.
    /// </summary>
    public static void KeepSparesFor(int concurrentRuns)
    {
        var current = Volatile.Read(ref _maxSpares);
        while (concurrentRuns > current)
        {
            var seen = Interlocked.CompareExchange(ref _maxSpares, concurrentRuns, current);
            if (seen == current) return;
            current = seen;
        }
    }

    /// <summary>Creates <paramref name="path"/> (which must not exist) as an empty private folder owned by <paramref name="owner"/>.</summary>
    /// <exception cref="IOException">It could not be created or given to the owner.</exception>
    public static void Create(string path, ScriptUser? owner)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("Hive runs scripts on Linux only");
        var parent = Path.GetDirectoryName(path)!;
        var spares = SparesOf(parent);
        var placed = false;
        while (!placed && spares.TryDequeue(out var spare))
        {
            try
            {
                Directory.Move(spare, path);
                placed = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryDelete(spare);
            }
        }

        if (placed)
        {
            File.SetUnixFileMode(path, PrivateMode);
        }
        else
        {
            Directory.CreateDirectory(parent);
            Directory.CreateDirectory(path, PrivateMode);
        }

        if (owner is not null && owner.Own(path) is var errno and not 0)
            throw new IOException($"chown to {owner} failed (errno {errno})");
    }

    /// <summary>
    /// Removes a run's folder, keeping it as a spare when the run left it empty and <paramref name="mayReuse"/> (no process
    /// of the run can still be using it). Best effort: never throws.
    /// </summary>
    public static void Remove(string path, bool mayReuse)
    {
        try
        {
            var parent = Path.GetDirectoryName(path)!;
            var spares = SparesOf(parent);
            if (mayReuse && spares.Count < MaxSpares && IsEmptyAndPlain(path))
            {
                var spare = Path.Combine(parent, SparePrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" +
                                                 Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture));
                Directory.Move(path, spare);
                spares.Enqueue(spare);
                return;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Fall back to removing it.
        }

        TryDelete(path);
    }

    /// <summary>The spare folders this process keeps under <paramref name="parent"/> (for tests and diagnostics).</summary>
    internal static int SpareCount(string parent) => Spares.TryGetValue(parent, out var queue) ? queue.Count : 0;

    private static ConcurrentQueue<string> SparesOf(string parent) =>
        Spares.TryGetValue(parent, out var queue) ? queue : Spares.GetOrAdd(parent, p =>
        {
            RemoveSparesOfDeadNodes(p);
            return [];
        });

    /// <summary>Spares are named after the node's pid: those of a node that is gone (killed, or stopped) are removed.</summary>
    private static void RemoveSparesOfDeadNodes(string parent)
    {
        try
        {
            if (!Directory.Exists(parent)) return;
            foreach (var dir in Directory.EnumerateDirectories(parent, SparePrefix + "*"))
            {
                var name = Path.GetFileName(dir.AsSpan())[SparePrefix.Length..];
                var dash = name.IndexOf('-');
                if (dash > 0 && int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) &&
                    pid != Environment.ProcessId && Native.Kill(pid, 0) == Native.ESRCH)
                    TryDelete(dir);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: leftovers are empty folders.
        }
    }

    private static bool IsEmptyAndPlain(string path)
    {
        using (var entries = Directory.EnumerateFileSystemEntries(path).GetEnumerator())
            if (entries.MoveNext()) return false;
        // No extended attributes (ACLs included); a file system without them reports ENOTSUP, which is fine.
        var size = SysListXattr(path, IntPtr.Zero, 0);
        return size == 0 || (size < 0 && Marshal.GetLastPInvokeError() == EOPNOTSUPP);
    }

    private const int EOPNOTSUPP = 95;

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a script may leave read-only folders behind; the work root is cleaned by the node.
        }
    }
}
