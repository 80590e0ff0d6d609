using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hive.Bench;

/// <summary>Where the node under test comes from and which brokers it uses.</summary>
internal sealed record NodeSetup(string HiveDll, string TasksDir, string RabbitUri, string RedisEndpoint, string WorkRoot, string NodeHocon);

/// <summary>
/// One real `hive node` (dotnet hive.dll) under test, its output drained (last lines kept for errors), and its memory,
/// threads and CPU read from /proc/&lt;pid&gt;/status and /proc/&lt;pid&gt;/stat.
/// </summary>
internal sealed class BenchNode : IAsyncDisposable
{
    private const int KeptLogLines = 200;
    private static readonly double TicksPerSecond = sysconf(2 /* _SC_CLK_TCK */);
    private static readonly ConcurrentDictionary<int, Process> Live = new();
    private readonly ConcurrentQueue<string> _log = new();
    private readonly Process _process;
    private readonly CancellationTokenSource _sampling = new();
    private readonly Task _sampler;
    private readonly string _configDir;
    private long _peakThreads;
    private long _peakRssKb;

    private BenchNode(string name, Process process, string configDir, int clusterPort)
    {
        Name = name;
        _process = process;
        _configDir = configDir;
        ClusterPort = clusterPort;
        _sampler = SampleAsync(_sampling.Token);
    }

    public string Name { get; }

    public int ClusterPort { get; }

    public int Pid => _process.Id;

    /// <summary>Largest thread count seen by the 100 ms sampler.</summary>
    public long PeakThreads => Interlocked.Read(ref _peakThreads);

    /// <summary>Largest RSS seen by the sampler since <see cref="ResetPeaks"/> (VmHWM covers the whole life).</summary>
    public double PeakRssMb => Interlocked.Read(ref _peakRssKb) / 1024.0;

    public static async Task<BenchNode> StartAsync(NodeSetup setup, int guides, string? seeds = null, string extraHocon = "")
    {
        var name = $"bench-{guides}g-{Guid.NewGuid().ToString("N")[..6]}";
        var configDir = Directory.CreateTempSubdirectory("hive-bench-node-").FullName;
        var config = Path.Combine(configDir, "node.conf");
        // Admission off (a limit of 100 never closes): the machine is shared and the benchmark saturates it on purpose;
        // with the default 90 % CPU gate the node would withhold demand for whole sampling intervals.
        await File.WriteAllTextAsync(config, $$"""
            hive.tasks.work-dir = "{{setup.WorkRoot}}"
            hive.node.admission.max-cpu-percent = 100
            hive.node.admission.max-memory-percent = 100
            {{setup.NodeHocon}}
            {{extraHocon}}
            """);
        var clusterPort = FreePort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[]
                 {
                     setup.HiveDll, "--config", config, "--rabbitmq", setup.RabbitUri, "--redis", setup.RedisEndpoint, "node",
                     "--guides", guides.ToString(), "--tasks", setup.TasksDir, "--name", name, "--cluster-port", clusterPort.ToString(), "--http-port", "0",
                 })
            psi.ArgumentList.Add(arg);
        if (seeds is not null)
        {
            psi.ArgumentList.Add("--seeds");
            psi.ArgumentList.Add(seeds);
        }

        psi.Environment["DOTNET_HOSTBUILDER__RELOADCONFIGONCHANGE"] = "false";
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var node = default(BenchNode);
        var early = new ConcurrentQueue<string>();
        DataReceivedEventHandler onLine = (_, e) =>
        {
            if (e.Data is null) return;
            var log = node?._log ?? early;
            log.Enqueue(e.Data);
            while (log.Count > KeptLogLines) log.TryDequeue(out string? _);
            if (e.Data.Contains("Application started", StringComparison.Ordinal)) started.TrySetResult();
        };
        process.OutputDataReceived += onLine;
        process.ErrorDataReceived += onLine;
        process.Exited += (_, _) =>
        {
            // Exited can be raised before the last lines were read; WaitForExit() also waits for both streams to end.
            process.WaitForExit();
            started.TrySetException(new InvalidOperationException($"hive node {name} exited at start:\n{string.Join('\n', early)}"));
        };
        var launched = System.Diagnostics.Stopwatch.StartNew();
        process.Start();
        Live[process.Id] = process;
        node = new BenchNode(name, process, configDir, clusterPort);
        foreach (var line in early) node._log.Enqueue(line);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await started.Task.WaitAsync(TimeSpan.FromSeconds(120));
            Console.WriteLine($"  (node {name}: {guides} guides, up in {launched.Elapsed.TotalSeconds:F2} s)");
        }
        catch (TimeoutException)
        {
            await node.DisposeAsync();
            throw new TimeoutException($"hive node {name} did not start in 120 s:\n{node.Log}");
        }

        return node;
    }

    public string Log => string.Join('\n', _log);

    public string LogTail(int lines) => string.Join('\n', _log.TakeLast(lines));

    public void ResetPeaks()
    {
        Interlocked.Exchange(ref _peakRssKb, 0);
        Interlocked.Exchange(ref _peakThreads, 0);
    }

    /// <summary>Current VmRSS, VmHWM (peak RSS over the node's life) in MB, and thread count.</summary>
    public (double RssMb, double HwmMb, long Threads) Memory()
    {
        long rss = 0, hwm = 0, threads = 0;
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line);
            else if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = long.Parse(line.AsSpan(8).Trim());
        }

        return (rss / 1024.0, hwm / 1024.0, threads);
    }

    /// <summary>User + system CPU seconds the node has used so far.</summary>
    public double CpuSeconds()
    {
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / TicksPerSecond;
    }

    /// <summary>SIGTERM (the node drains), SIGKILL if it has not exited within the timeout.</summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        await _sampling.CancelAsync();
        if (_process.HasExited) return;
        kill(_process.Id, 15);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(40));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine($"  (node {Name} did not stop within the timeout; killed)");
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>On Ctrl-C: SIGKILL every node still running (their scripts are swept by the next start's run ledger).</summary>
    public static void KillAll()
    {
        foreach (var process in Live.Values)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Live.TryRemove(_process.Id, out _);
        try { await _sampler; } catch (OperationCanceledException) { }
        _process.Dispose();
        _sampling.Dispose();
        try { Directory.Delete(_configDir, recursive: true); } catch (IOException) { }
    }

    private async Task SampleAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(token))
            {
                try
                {
                    var (rss, _, threads) = Memory();
                    var rssKb = (long)(rss * 1024);
                    if (rssKb > Interlocked.Read(ref _peakRssKb)) Interlocked.Exchange(ref _peakRssKb, rssKb);
                    if (threads > Interlocked.Read(ref _peakThreads)) Interlocked.Exchange(ref _peakThreads, threads);
                }
                catch (Exception e) when (e is IOException or InvalidOperationException)
                {
                    return; // the node exited
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [DllImport("libc")]
    private static extern long sysconf(int name);
}
