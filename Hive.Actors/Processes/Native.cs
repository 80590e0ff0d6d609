using System.Runtime.InteropServices;

namespace Hive.Actors.Processes;

/// <summary>The few libc calls the runner needs (Linux only). Signal numbers are the Linux ones (x86-64 and arm64).</summary>
internal static class Native
{
    internal const int SIGKILL = 9;
    internal const int SIGTERM = 15;
    internal const int SIGCONT = 18;
    internal const int SIGSTOP = 19;

    internal const int ESRCH = 3;
    internal const int EINTR = 4;
    internal const int ECHILD = 10;

    internal const int O_CLOEXEC = 0x80000;

    internal const short POSIX_SPAWN_SETSIGDEF = 0x04;
    internal const short POSIX_SPAWN_SETSIGMASK = 0x08;
    internal const short POSIX_SPAWN_SETSID = 0x80;

    // glibc's opaque types, with room to spare (x86-64: attr 336, file actions 80, sigset 128 bytes).
    internal const int SpawnAttrSize = 1024;
    internal const int SpawnFileActionsSize = 256;
    internal const int SigSetSize = 128;

    private const int P_PID = 1;
    private const int WNOHANG = 1;
    private const int WEXITED = 4;
    private const int WNOWAIT = 0x01000000;
    private const int CLD_EXITED = 1;
    private const long SYS_pidfd_open = 434; // the same number on x86-64 and arm64
    private const int PR_SET_CHILD_SUBREAPER = 36;

    /// <summary>glibc only: hands the arenas' free memory back to the system. Throws EntryPointNotFoundException elsewhere (musl).</summary>
    [DllImport("libc", EntryPoint = "malloc_trim")]
    internal static extern int MallocTrim(nuint pad);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int sig);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr SysRealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void SysFree(IntPtr ptr);

    [DllImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static extern int SysPipe2([Out] int[] fds, int flags);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static extern int Close(int fd);

    [DllImport("libc")] internal static extern int posix_spawn_file_actions_init(IntPtr actions);
    [DllImport("libc")] internal static extern int posix_spawn_file_actions_destroy(IntPtr actions);
    [DllImport("libc")] internal static extern int posix_spawn_file_actions_adddup2(IntPtr actions, int fd, int newFd);
    [DllImport("libc")] internal static extern int posix_spawn_file_actions_addchdir_np(IntPtr actions, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);
    [DllImport("libc")] internal static extern int posix_spawnattr_init(IntPtr attr);
    [DllImport("libc")] internal static extern int posix_spawnattr_destroy(IntPtr attr);
    [DllImport("libc")] internal static extern int posix_spawnattr_setflags(IntPtr attr, short flags);
    [DllImport("libc")] internal static extern int posix_spawnattr_setsigdefault(IntPtr attr, IntPtr sigset);
    [DllImport("libc")] internal static extern int posix_spawnattr_setsigmask(IntPtr attr, IntPtr sigset);
    [DllImport("libc")] internal static extern int sigfillset(IntPtr set);
    [DllImport("libc")] internal static extern int sigemptyset(IntPtr set);

    /// <summary>Returns 0 or the errno (posix_spawn does not use errno).</summary>
    [DllImport("libc")]
    internal static extern int posix_spawn(out int pid, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr actions, IntPtr attr, IntPtr[] argv, IntPtr[] envp);

    /// <summary>Like <see cref="posix_spawn"/>, but a name without '/' is looked up in the node's PATH.</summary>
    [DllImport("libc")]
    internal static extern int posix_spawnp(out int pid, [MarshalAs(UnmanagedType.LPUTF8Str)] string file, IntPtr actions, IntPtr attr, IntPtr[] argv, IntPtr[] envp);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern int SysCall(long number, int arg1, uint arg2);

    [DllImport("libc", EntryPoint = "waitid", SetLastError = true)]
    private static extern int SysWaitId(int idType, int id, IntPtr info, int options);

    [DllImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static extern int SysWaitPid(int pid, out int status, int options);

    [DllImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static extern int SysPrctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [DllImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    internal static extern int EpollCreate(int flags);

    [DllImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    internal static extern int EpollCtl(int epfd, int op, int fd, IntPtr evt);

    [DllImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    internal static extern int EpollWait(int epfd, IntPtr events, int maxEvents, int timeout);

    /// <summary><c>kill(2)</c>: a negative <paramref name="pid"/> addresses the process group. Returns 0 or the errno.</summary>
    internal static int Kill(int pid, int sig) => SysKill(pid, sig) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary><c>realpath(3)</c>: the canonical absolute path with every symlink resolved, or null when it does not exist.</summary>
    internal static string? RealPath(string path)
    {
        var p = SysRealPath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { SysFree(p); }
    }

    /// <summary>A close-on-exec pipe: (read end, write end). Throws <see cref="IOException"/> on failure.</summary>
    internal static (int Read, int Write) Pipe()
    {
        var fds = new int[2];
        if (SysPipe2(fds, O_CLOEXEC) != 0) throw new IOException($"pipe2 failed (errno {Marshal.GetLastPInvokeError()})");
        return (fds[0], fds[1]);
    }

    /// <summary><c>pidfd_open(2)</c>: a descriptor that becomes readable when the process exits; -1 and the errno on failure.</summary>
    internal static int PidFdOpen(int pid, out int errno)
    {
        var fd = SysCall(SYS_pidfd_open, pid, 0);
        errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd;
    }

    /// <summary>
    /// The exit status of child <paramref name="pid"/> if it has exited, WITHOUT reaping it (<c>WNOWAIT</c>: the zombie keeps
    /// its pid, so the pid and its process group cannot be recycled while the run's tree is cleaned up). The status follows
    /// .NET's convention: the exit code, or 128 + the signal. Null while it runs; -1 when it is not (or no longer) our child.
    /// </summary>
    internal static int? PeekExit(int pid)
    {
        // siginfo_t (128 bytes): si_signo@0, si_errno@4, si_code@8, si_pid@16, si_uid@20, si_status@24 (x86-64 and arm64).
        var info = Marshal.AllocHGlobal(128);
        try
        {
            for (var i = 0; i < 128; i += 8) Marshal.WriteInt64(info, i, 0);
            int r;
            do r = SysWaitId(P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT);
            while (r != 0 && Marshal.GetLastPInvokeError() == EINTR);
            if (r != 0) return -1;
            if (Marshal.ReadInt32(info, 16) == 0) return null;
            var code = Marshal.ReadInt32(info, 8);
            var status = Marshal.ReadInt32(info, 24);
            return code == CLD_EXITED ? status : 128 + status;
        }
        finally
        {
            Marshal.FreeHGlobal(info);
        }
    }

    /// <summary>Reaps child <paramref name="pid"/> if it is a zombie (<c>waitpid(pid, WNOHANG)</c>); true when reaped or already gone.</summary>
    internal static bool Reap(int pid)
    {
        int r;
        do r = SysWaitPid(pid, out _, WNOHANG);
        while (r < 0 && Marshal.GetLastPInvokeError() == EINTR);
        return r == pid || (r < 0 && Marshal.GetLastPInvokeError() == ECHILD);
    }

    /// <summary>Makes this process the reaper of its orphaned descendants (<c>PR_SET_CHILD_SUBREAPER</c>); true on success.</summary>
    internal static bool BecomeChildSubreaper() => SysPrctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}
