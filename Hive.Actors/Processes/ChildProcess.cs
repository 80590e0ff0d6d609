using System.IO.Pipes;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hive.Actors.Processes;

/// <summary>
/// A child started with one <c>posix_spawn</c>: its own session and process group (<c>POSIX_SPAWN_SETSID</c>), every signal
/// at its default disposition (the node ignores SIGPIPE, and an ignored signal survives exec) and an empty signal mask,
/// stdin/stdout/stderr on pipes, the given working directory, argument list and environment — no shell, and no helper
/// programs exec'd on the way (System.Diagnostics.Process cannot start a session, which cost two extra execs per script).
/// Its exit is watched by <see cref="ExitWatcher"/>; it stays a zombie until <see cref="Reap"/>.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private int _reaped;

    private ChildProcess(int pid, Stream stdin, Stream stdout, Stream stderr, Task<int> exited)
    {
        Pid = pid;
        StandardInput = stdin;
        StandardOutput = stdout;
        StandardError = stderr;
        Exited = exited;
    }

    public int Pid { get; }

    public Stream StandardInput { get; }

    public Stream StandardOutput { get; }

    public Stream StandardError { get; }

    /// <summary>The exit status once the process exited: the exit code, or 128 + the signal that killed it.</summary>
    public Task<int> Exited { get; }

    /// <summary>
    /// Starts <paramref name="file"/> (a path, or a name looked up in the node's PATH) with <paramref name="arguments"/> as
    /// argv[1..]. Throws <see cref="IOException"/> with the reason when it cannot be started (missing, not executable, bad
    /// working directory).
    /// </summary>
    public static ChildProcess Spawn(string file, IReadOnlyList<string> arguments, IEnumerable<KeyValuePair<string, string>> environment, string workingDirectory)
    {
        var path = file.Contains('/') ? Path.GetFullPath(file) : file;
        var argv = new List<string>(arguments.Count + 1) { file };
        argv.AddRange(arguments);
        var envp = environment.Select(kv => $"{kv.Key}={kv.Value}").ToList();

        var stdin = Native.Pipe();
        var stdout = Native.Pipe();
        var stderr = Native.Pipe();
        var actions = Marshal.AllocHGlobal(Native.SpawnFileActionsSize);
        var attr = Marshal.AllocHGlobal(Native.SpawnAttrSize);
        var defaults = Marshal.AllocHGlobal(Native.SigSetSize);
        var mask = Marshal.AllocHGlobal(Native.SigSetSize);
        var argvPtrs = ToNative(argv);
        var envpPtrs = ToNative(envp);
        int pid, error;
        try
        {
            Native.posix_spawn_file_actions_init(actions);
            Native.posix_spawnattr_init(attr);
            Native.posix_spawn_file_actions_adddup2(actions, stdin.Read, 0);
            Native.posix_spawn_file_actions_adddup2(actions, stdout.Write, 1);
            Native.posix_spawn_file_actions_adddup2(actions, stderr.Write, 2);
            Native.posix_spawn_file_actions_addchdir_np(actions, workingDirectory);
            Native.sigfillset(defaults);
            Native.sigemptyset(mask);
            Native.posix_spawnattr_setsigdefault(attr, defaults);
            Native.posix_spawnattr_setsigmask(attr, mask);
            Native.posix_spawnattr_setflags(attr, Native.POSIX_SPAWN_SETSID | Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK);
            error = path.Contains('/')
                ? Native.posix_spawn(out pid, path, actions, attr, argvPtrs, envpPtrs)
                : Native.posix_spawnp(out pid, path, actions, attr, argvPtrs, envpPtrs);
        }
        finally
        {
            Native.posix_spawn_file_actions_destroy(actions);
            Native.posix_spawnattr_destroy(attr);
            Marshal.FreeHGlobal(actions);
            Marshal.FreeHGlobal(attr);
            Marshal.FreeHGlobal(defaults);
            Marshal.FreeHGlobal(mask);
            Free(argvPtrs);
            Free(envpPtrs);
            Native.Close(stdin.Read);
            Native.Close(stdout.Write);
            Native.Close(stderr.Write);
        }

        if (error != 0)
        {
            Native.Close(stdin.Write);
            Native.Close(stdout.Read);
            Native.Close(stderr.Read);
            throw new IOException($"{new System.ComponentModel.Win32Exception(error).Message} (errno {error})");
        }

        ProcessTree.AddLeader(pid);
        Task<int> exited;
        try
        {
            exited = ExitWatcher.WatchExit(pid);
        }
        catch (IOException)
        {
            Native.Kill(-pid, Native.SIGKILL);
            ProcessTree.RemoveLeader(pid);
            throw;
        }

        return new ChildProcess(pid, Open(stdin.Write, PipeDirection.Out), Open(stdout.Read, PipeDirection.In), Open(stderr.Read, PipeDirection.In), exited);
    }

    /// <summary>Releases the zombie once the run is over (call after <see cref="Exited"/> completed and the tree is gone).</summary>
    public void Reap()
    {
        if (!Exited.IsCompleted || Interlocked.Exchange(ref _reaped, 1) != 0) return;
        Native.Reap(Pid);
        ProcessTree.RemoveLeader(Pid);
    }

    public void Dispose()
    {
        Reap();
        StandardInput.Dispose();
        StandardOutput.Dispose();
        StandardError.Dispose();
    }

    // An anonymous-pipe stream over the fd: reads and writes are asynchronous (epoll), as System.Diagnostics.Process does it.
    private static Stream Open(int fd, PipeDirection direction) =>
        new AnonymousPipeClientStream(direction, new SafePipeHandle((IntPtr)fd, ownsHandle: true));

    private static IntPtr[] ToNative(List<string> strings)
    {
        var pointers = new IntPtr[strings.Count + 1];
        for (var i = 0; i < strings.Count; i++) pointers[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
        return pointers;
    }

    private static void Free(IntPtr[] pointers)
    {
        foreach (var p in pointers)
            if (p != IntPtr.Zero) Marshal.FreeCoTaskMem(p);
    }
}
