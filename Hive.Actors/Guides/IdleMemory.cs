using Hive.Actors.Processes;

namespace Hive.Actors.Guides;

/// <summary>
/// Gives an idle node's unused memory back to the operating system. The GC keeps freed regions committed for reuse, and
/// glibc keeps freed native memory (the runtime's, the JIT's, OpenSSL's) in its arenas, so without this a node stays at
/// the high-water mark of its start-up or of its last burst of tasks long after it went quiet.
/// </summary>
public static class IdleMemory
{
    private static volatile bool _noMallocTrim;
    private static int _trimming;

    /// <summary>
    /// Blocks for a full compacting collection (a few milliseconds on an idle node): never on an actor's thread. Returns the
    /// resident bytes before and after, or null when another trim was still running.
    /// </summary>
    public static (long Before, long After)? Trim()
    {
        if (Interlocked.Exchange(ref _trimming, 1) == 1) return null;
        try
        {
            var before = Environment.WorkingSet;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            TrimNativeHeap();
            return (before, Environment.WorkingSet);
        }
        finally
        {
            Volatile.Write(ref _trimming, 0);
        }
    }

    private static void TrimNativeHeap()
    {
        if (_noMallocTrim) return;
        try
        {
            Native.MallocTrim(0);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _noMallocTrim = true; // not glibc (musl has no malloc_trim): the collection is all there is
        }
    }
}
