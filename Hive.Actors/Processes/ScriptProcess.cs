using System.Buffers;
using System.Text;

namespace Hive.Actors.Processes;

/// <summary>
/// One running script. The child is started with one <c>posix_spawn</c> as the leader of a new session (argument list
/// only, no shell; see <see cref="ChildProcess"/>), so the script's pid is also its session and process-group id and
/// signals sent to the group reach every process it starts. stdout and stderr are drained asynchronously into an <see cref="OutputCollector"/>; the
/// observer sees coalesced snapshots (at most one per <see cref="ScriptRunOptions.NotifyInterval"/>) and one exit.
/// When the main process exits — on its own or stopped — whatever is left of its tree is SIGKILLed (process group,
/// session, descendants and every process carrying the run's <c>HIVE_RUN_ID</c>, see <see cref="ProcessTree"/>), and
/// <see cref="Completion"/> completes only when none of them is alive: no orphans, ever.
/// </summary>
public sealed class ScriptProcess : IAsyncDisposable
{
    private static readonly TimeSpan DisposeWait = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan TreeGoneWait = TimeSpan.FromSeconds(5);
    private const int SmallReadBuffer = 4 * 1024;
    private const int LargeReadBuffer = 64 * 1024;

    private readonly ChildProcess _process;
    private readonly ScriptRunOptions _options;
    private readonly IScriptObserver _observer;
    private readonly ScriptLaunch _launch;
    private readonly OutputCollector _output;
    private readonly string _runId;
    private readonly ulong? _leaderStartTime;
    private readonly Stream _stdin;
    private readonly SemaphoreSlim _stdinLock = new(1, 1);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly CancellationTokenSource _readCancel = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _killNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ScriptExit> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _signalGate = new();
    private readonly Timer _notifyTimer;
    private int _notifyArmed;
    private Task? _stopSequence;
    private int _stopReason;
    private int _forceKilled;
    private int _disposed;
    private bool _paused;

    private ScriptProcess(ChildProcess process, ScriptLaunch launch, ScriptRunOptions options, IScriptObserver observer, string runId)
    {
        _process = process;
        _launch = launch;
        _options = options;
        _observer = observer;
        _runId = runId;
        Pid = process.Pid;
        StartedAt = DateTimeOffset.UtcNow;
        _leaderStartTime = RunLedger.ReadStartTime(Pid);
        _stdin = process.StandardInput;
        _output = new OutputCollector(Pid, options.ProgressLength, options.MaxLineLength, options.MaxOutputBytes);
        _notifyTimer = new Timer(static self => ((ScriptProcess)self!).NotifyChange(), this, Timeout.Infinite, Timeout.Infinite);
        _output.Changed = ArmNotify;
    }

    /// <summary>The script's pid, which is also its process-group and session id.</summary>
    public int Pid { get; }

    /// <summary>The unique id of this run, exported to the child as <c>HIVE_RUN_ID</c>.</summary>
    public string RunId => _runId;

    public DateTimeOffset StartedAt { get; }

    /// <summary>Field 22 of the leader's <c>/proc/&lt;pid&gt;/stat</c>, read right after the spawn; null when it could not be read.</summary>
    internal ulong? LeaderStartTime => _leaderStartTime;

    public string WorkingDirectory => _launch.WorkingDirectory;

    /// <summary>Completes once the main process exited, its remaining tree is gone and its output is drained. Never faults.</summary>
    public Task<ScriptExit> Completion => _completion.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    public bool IsPaused
    {
        get { lock (_signalGate) return _paused; }
    }

    /// <summary>The current state, regardless of the notification interval.</summary>
    public ScriptSnapshot Snapshot() => _output.Snapshot();

    /// <summary>Starts the process. Throws <see cref="ScriptStartException"/> when it cannot be started.</summary>
    public static ScriptProcess Start(ScriptLaunch launch, ScriptRunOptions options, IScriptObserver observer)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(observer);
        options.Validate();
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("Hive runs scripts on Linux only (process groups, /proc)");
        if (options.RunAs is not null && !File.Exists(options.SetprivPath))
            throw new ScriptStartException($"'{options.SetprivPath}' (util-linux setpriv) is missing; it is needed to run scripts as {options.RunAs} (hive.tasks.run-as-user)");
        if (options.MemoryLimitBytes is not null && !File.Exists(options.PrlimitPath))
            throw new ScriptStartException($"'{options.PrlimitPath}' (util-linux prlimit) is missing; it is needed to apply the script's memoryLimitMb");

        var createdDirectory = false;
        if (launch.OwnsWorkingDirectory)
        {
            if (Directory.Exists(launch.WorkingDirectory))
                throw new ScriptStartException($"the run's working directory '{launch.WorkingDirectory}' already exists");
            try
            {
                RunDirectories.Create(launch.WorkingDirectory, options.RunAs);
                createdDirectory = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (Directory.Exists(launch.WorkingDirectory)) RunDirectories.Remove(launch.WorkingDirectory, mayReuse: true);
                throw new ScriptStartException($"cannot create the run's working directory '{launch.WorkingDirectory}': {e.Message}", e);
            }
        }
        else if (!Directory.Exists(launch.WorkingDirectory))
        {
            throw new ScriptStartException($"working directory '{launch.WorkingDirectory}' does not exist");
        }

        var runId = Guid.NewGuid().ToString("N");
        var program = launch.FileName;
        var arguments = new List<string>();
        if (options.RunAs is { } runAs)
        {
            program = options.SetprivPath;
            arguments.AddRange(runAs.SetprivArguments());
            arguments.Add(launch.FileName);
        }

        arguments.AddRange(launch.Arguments);
        if (options.MemoryLimitBytes is { } memoryLimit)
        {
            // outermost, so the limit is set before setpriv drops privileges and is inherited by everything after
            arguments.InsertRange(0, [$"--data={memoryLimit}:{memoryLimit}", "--", program]);
            program = options.PrlimitPath;
        }
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            var name = (string)variable.Key;
            if (!IsScrubbed(name, options.ScrubbedVariablePrefixes)) environment[name] = (string?)variable.Value ?? "";
        }

        foreach (var (name, value) in launch.Environment)
        {
            if (value is null) environment.Remove(name);
            else environment[name] = value;
        }

        environment[ProcessTree.RunIdVariable] = runId;

        ProcessTree.EnsureSubreaper();
        ChildProcess process;
        try
        {
            process = ChildProcess.Spawn(program, arguments, environment, launch.WorkingDirectory);
        }
        catch (IOException e)
        {
            if (createdDirectory) RunDirectories.Remove(launch.WorkingDirectory, mayReuse: true);
            throw new ScriptStartException($"cannot start {launch.Label}: {e.Message}", e);
        }

        var run = new ScriptProcess(process, launch, options, observer, runId);
        run.Begin();
        return run;
    }

    // A loop, not LINQ: this runs for every variable of the node's environment at every spawn.
    private static bool IsScrubbed(string name, IReadOnlyList<string> prefixes)
    {
        for (var i = 0; i < prefixes.Count; i++)
            if (name.StartsWith(prefixes[i], StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>
    /// Stops the run: SIGTERM (then SIGCONT, so a paused script can act on it) to the process group and every other
    /// process of the run, SIGKILL to all of them after <paramref name="grace"/>. Completes when the run is over
    /// (same as <see cref="Completion"/>). Idempotent: a second call joins the first.
    /// </summary>
    public Task StopAsync(TimeSpan grace) => StopCoreAsync(ScriptStopReason.Stopped, grace);

    /// <summary>SIGSTOP to the process group (and the run's other processes). No-op once exited.</summary>
    public void Pause()
    {
        lock (_signalGate)
        {
            if (HasExited || _paused) return;
            SignalRun(Native.SIGSTOP);
            _paused = true;
        }

        _output.SetPaused(true);
    }

    /// <summary>SIGCONT to the process group (and the run's other processes). No-op once exited.</summary>
    public void Resume()
    {
        lock (_signalGate)
        {
            if (HasExited || !_paused) return;
            SignalRun(Native.SIGCONT);
            _paused = false;
        }

        _output.SetPaused(false);
    }

    /// <summary>
    /// Writes one line (a newline is appended) to the script's stdin. Throws <see cref="ArgumentException"/> when the
    /// text contains a line break, <see cref="InvalidOperationException"/> when the script has exited or closed stdin.
    /// </summary>
    public async Task WriteStdinLineAsync(string line, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.AsSpan().IndexOfAny('\n', '\r') >= 0) throw new ArgumentException("a stdin line must not contain line breaks", nameof(line));
        if (HasExited) throw new InvalidOperationException("the script has exited");
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        await _stdinLock.WaitAsync(linked.Token).ConfigureAwait(false);
        try
        {
            await _stdin.WriteAsync(bytes, linked.Token).ConfigureAwait(false);
            await _stdin.FlushAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new InvalidOperationException("the script has exited or closed its stdin", e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException("the script has exited");
        }
        finally
        {
            _stdinLock.Release();
        }
    }

    /// <summary>Kills the whole run at once (SIGKILL) if it still runs, waits for it to be gone, releases resources.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;

        if (!HasExited)
        {
            Interlocked.CompareExchange(ref _stopReason, (int)ScriptStopReason.Disposed, 0);
            Interlocked.Exchange(ref _forceKilled, 1);
            _killNow.TrySetResult();
            lock (_signalGate) SignalRun(Native.SIGKILL);
        }

        try
        {
            await Completion.WaitAsync(DisposeWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A process stuck in uninterruptible sleep ignores even SIGKILL until the kernel lets go;
            // Completion still completes (and OnExit still fires) when it finally dies.
            return;
        }

        _notifyTimer.Dispose();
        _lifetime.Dispose();
        _readCancel.Dispose();
        _process.Dispose();
        _stdinLock.Dispose();
    }

    public override string ToString() => $"ScriptProcess({_launch.Label}, pid {Pid})";

    private Task StopCoreAsync(ScriptStopReason reason, TimeSpan grace)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(grace.Ticks, nameof(grace));
        Interlocked.CompareExchange(ref _stopReason, (int)reason, 0);
        if (HasExited) return Completion;
        lock (_signalGate)
        {
            _stopSequence ??= StopSequenceAsync(grace);
            return _stopSequence;
        }
    }

    private async Task StopSequenceAsync(TimeSpan grace)
    {
        lock (_signalGate)
        {
            SignalRun(Native.SIGTERM);
            SignalRun(Native.SIGCONT);
        }

        using var delay = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        await Task.WhenAny(_exited.Task, _killNow.Task, Task.Delay(grace, delay.Token)).ConfigureAwait(false);
        await delay.CancelAsync().ConfigureAwait(false);
        if (!HasExited)
        {
            Interlocked.Exchange(ref _forceKilled, 1);
            lock (_signalGate) SignalRun(Native.SIGKILL);
        }

        await Completion.ConfigureAwait(false);
    }

    /// <summary>
    /// Signals the process group, then any other process of the run found in /proc. Call under <see cref="_signalGate"/>.
    /// Returns false only when /proc showed that no live process of the run is left.
    /// </summary>
    private bool SignalRun(int signal)
    {
        Native.Kill(-Pid, signal);

        try
        {
            var found = ProcessTree.FindRunProcesses(Pid, _runId, _leaderStartTime);
            foreach (var p in found)
                if (p.Group != Pid) Native.Kill(p.Pid, signal);
            return found.Count > 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /proc unreadable: the process-group signal above is all we can do.
            return true;
        }
    }

    private void Begin()
    {
        var stdout = ReadLoopAsync(_process.StandardOutput);
        var stderr = ReadLoopAsync(_process.StandardError);
        if (_options.Timeout is { } timeout) _ = TimeoutAsync(timeout);
        _ = RunAsync(stdout, stderr);
    }

    private async Task TimeoutAsync(TimeSpan timeout)
    {
        try
        {
            await Task.WhenAny(_exited.Task, Task.Delay(timeout, _lifetime.Token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (!HasExited && !_lifetime.IsCancellationRequested) await StopCoreAsync(ScriptStopReason.TimedOut, _options.StopGracePeriod).ConfigureAwait(false);
    }

    private async Task ReadLoopAsync(Stream stream)
    {
        await Task.Yield();
        var reader = _output.CreateReader();
        // Small at first (most scripts print little, and a node may run a thousand of them); 64 KiB once a read fills it.
        var buffer = ArrayPool<byte>.Shared.Rent(SmallReadBuffer);
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, _readCancel.Token).ConfigureAwait(false);
                if (read == 0) break;
                reader.Feed(buffer.AsSpan(0, read));
                if (read == buffer.Length && buffer.Length < LargeReadBuffer)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(LargeReadBuffer);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Cancelled after the drain timeout, or the pipe broke: keep what was read.
        }
        finally
        {
            reader.Complete();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// A change of the output arms a one-shot timer, and the snapshot goes out when it fires: at most one snapshot per
    /// notify interval, and a run that prints nothing costs no wake-ups (a thousand quiet scripts polled every 250 ms
    /// were four thousand timer callbacks a second).
    /// </summary>
    private void ArmNotify()
    {
        if (Interlocked.Exchange(ref _notifyArmed, 1) != 0 || _lifetime.IsCancellationRequested) return;
        try
        {
            _notifyTimer.Change(_options.NotifyInterval, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The run has ended: its final snapshot goes with the exit.
        }
    }

    private void NotifyChange()
    {
        if (_lifetime.IsCancellationRequested) return;
        if (_output.TakeIfChanged() is { } snapshot) Notify(o => o.OnSnapshot(snapshot));
        // Disarmed only after the snapshot went out, so two callbacks never race; a change meanwhile arms it again here.
        Volatile.Write(ref _notifyArmed, 0);
        if (_output.HasUnpublishedChange) ArmNotify();
    }

    private async Task RunAsync(Task stdout, Task stderr)
    {
        ScriptExit exit;
        var treeGone = false;
        try
        {
            var exitCode = await _process.Exited.ConfigureAwait(false);
            var exitedAt = DateTimeOffset.UtcNow;
            bool treeLeft;
            lock (_signalGate)
            {
                _exited.TrySetResult();
                // The main process is gone; nothing of its tree may outlive it (background jobs, daemons).
                treeLeft = SignalRun(Native.SIGKILL);
            }

            try { _stdin.Dispose(); } catch (IOException) { }

            var readers = Task.WhenAll(stdout, stderr);
            if (await Task.WhenAny(readers, Task.Delay(_options.DrainTimeout)).ConfigureAwait(false) != readers)
            {
                // Someone we could not find still holds the pipes: stop reading rather than wait forever.
                await _readCancel.CancelAsync().ConfigureAwait(false);
                await Task.WhenAny(readers, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            }

            // Nothing left alive cannot fork again, so the common case (the script ran alone) needs no second look.
            treeGone = !treeLeft || await WaitTreeGoneAsync().ConfigureAwait(false);
            await _lifetime.CancelAsync().ConfigureAwait(false);
            await _notifyTimer.DisposeAsync().ConfigureAwait(false); // and waits for a snapshot being sent

            _output.SetPaused(false);
            var final = _output.Snapshot();
            var signal = exitCode is > 128 and <= 128 + 64 ? exitCode - 128 : (int?)null;
            exit = new ScriptExit(Pid, exitCode, signal, (ScriptStopReason)Volatile.Read(ref _stopReason), Volatile.Read(ref _forceKilled) == 1, StartedAt, exitedAt, final);
        }
        catch (Exception e)
        {
            // Should not happen; never leave Completion pending.
            _exited.TrySetResult();
            _lifetime.Cancel();
            await _notifyTimer.DisposeAsync().ConfigureAwait(false); // no snapshot may follow the exit
            exit = new ScriptExit(Pid, -1, null, (ScriptStopReason)Volatile.Read(ref _stopReason), Volatile.Read(ref _forceKilled) == 1, StartedAt, DateTimeOffset.UtcNow,
                _output.Snapshot() with { Lines = [.. _output.Snapshot().Lines, $"[hive] runner error: {e.GetType().Name}: {e.Message}"] });
        }

        // Reap the zombie and close the pipes now: a guide drops a finished run without disposing it.
        _process.Dispose();
        // The guide gets the exit first (the folder is off the path to the result); Completion waits for the folder.
        Notify(o => o.OnExit(exit));
        // A folder that a surviving process may still use is never handed to another run.
        if (_launch.OwnsWorkingDirectory && !_options.KeepWorkingDirectory) RunDirectories.Remove(_launch.WorkingDirectory, mayReuse: treeGone);
        _completion.TrySetResult(exit);
    }

    /// <summary>Kills what is left of the run until /proc shows none of it; false when some of it outlived the wait (or /proc could not be read).</summary>
    private async Task<bool> WaitTreeGoneAsync()
    {
        var deadline = DateTime.UtcNow + TreeGoneWait;
        var delay = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            List<ProcessTree.ProcInfo> left;
            try
            {
                left = ProcessTree.FindRunProcesses(Pid, _runId, _leaderStartTime);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }

            if (left.Count == 0) return true;
            if (DateTime.UtcNow > deadline) return false;
            foreach (var p in left) Native.Kill(p.Pid, Native.SIGKILL);
            await Task.Delay(delay).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 100));
        }
    }

    private void Notify(Action<IScriptObserver> call)
    {
        try
        {
            call(_observer);
        }
        catch (Exception)
        {
            // An observer must not break the runner (documented on IScriptObserver).
        }
    }
}
