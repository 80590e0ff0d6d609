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

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int sig);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr SysRealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void SysFree(IntPtr ptr);

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
}
