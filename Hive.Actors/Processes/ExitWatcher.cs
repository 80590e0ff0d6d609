using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Hive.Actors.Processes;

/// <summary>
/// Tells when children started by <see cref="ChildProcess"/> exit, without a thread per child and without SIGCHLD: one
/// background thread waits in <c>epoll_wait</c> on a pidfd per child (Linux 5.3+), which becomes readable when that child
/// exits. The exit status is read with <c>WNOWAIT</c>, so the child stays a zombie — its pid, and with it the pid of its
/// process group, cannot be recycled — until <see cref="ChildProcess.Reap"/> after the run's tree is cleaned up.
/// </summary>
internal static class ExitWatcher
{
    private const int EPOLL_CTL_ADD = 1;
    private const int EPOLL_CTL_DEL = 2;
    private const int EPOLLIN = 1;
    private const int MaxEvents = 64;

    // struct epoll_event is packed on x86-64 (12 bytes: events u32, data u64 at 4); naturally aligned elsewhere (16 bytes, data at 8).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    // Keyed by a watch number carried in the epoll event, not by the descriptor: a pidfd's number is reused as soon as it is
    // closed, and a stale event (the old pidfd can still be registered while a child being spawned holds a copy of it
    // until its exec) must never be taken for the new pidfd's, or its watch would be closed before it was even added.
    private static readonly ConcurrentDictionary<long, Watch> Watches = new();
    private static long _lastWatch;
    private static readonly Lazy<int> Epoll = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Completes with the exit status (the exit code, or 128 + signal; -1 if someone else reaped it) once <paramref name="pid"/> exits.</summary>
    public static Task<int> WatchExit(int pid)
    {
        var fd = Native.PidFdOpen(pid, out var errno);
        if (fd < 0) throw new IOException($"pidfd_open({pid}) failed (errno {errno}); Hive needs Linux 5.3 or later");
        var watch = new Watch(pid, fd);
        var id = Interlocked.Increment(ref _lastWatch);
        Watches[id] = watch;
        var evt = Marshal.AllocHGlobal(16);
        try
        {
            Marshal.WriteInt32(evt, 0, EPOLLIN);
            Marshal.WriteInt64(evt, DataOffset, id);
            if (Native.EpollCtl(Epoll.Value, EPOLL_CTL_ADD, fd, evt) != 0)
            {
                var error = Marshal.GetLastPInvokeError();
                Watches.TryRemove(id, out _);
                Native.Close(fd);
                throw new IOException($"epoll_ctl failed (errno {error})");
            }
        }
        finally
        {
            Marshal.FreeHGlobal(evt);
        }

        return watch.Exit.Task;
    }

    private static int Start()
    {
        var epoll = Native.EpollCreate(Native.O_CLOEXEC);
        if (epoll < 0) throw new IOException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()})");
        new Thread(() => Loop(epoll)) { IsBackground = true, Name = "hive-exit-watcher" }.Start();
        return epoll;
    }

    private static void Loop(int epoll)
    {
        var events = Marshal.AllocHGlobal(EventSize * MaxEvents);
        while (true)
        {
            var n = Native.EpollWait(epoll, events, MaxEvents, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                Thread.Sleep(10);
                continue;
            }

            for (var i = 0; i < n; i++)
            {
                var id = Marshal.ReadInt64(events, i * EventSize + DataOffset);
                if (!Watches.TryGetValue(id, out var watch)) continue;
                if (Native.PeekExit(watch.Pid) is not { } status) continue; // not exited after all: keep watching
                Watches.TryRemove(id, out _);
                // Removed explicitly: closing only drops the registration once no spawning child holds a copy any more.
                Native.EpollCtl(epoll, EPOLL_CTL_DEL, watch.Fd, IntPtr.Zero);
                Native.Close(watch.Fd);
                watch.Exit.TrySetResult(status);
            }
        }
    }

    private sealed record Watch(int Pid, int Fd)
    {
        public TaskCompletionSource<int> Exit { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
