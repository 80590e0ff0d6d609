using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Hive.Tests.Infrastructure;

namespace Hive.Tests.Integration;

/// <summary>A real `hive node` process (the built hive.dll) against the test's brokers, with its log captured.</summary>
public sealed class HiveNodeProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _configFile;
    private Process? _process;

    private readonly string _tasksDir;

    private HiveNodeProcess(string name, BrokersFixture brokers, int guides, string extraHocon, int clusterPort, string? seeds, int httpPort = 0,
        string? tasksDir = null)
    {
        _tasksDir = tasksDir ?? RepoPaths.Tasks;
        HttpPort = httpPort;
        Name = name;
        Brokers = brokers;
        Guides = guides;
        ClusterPort = clusterPort;
        Seeds = seeds;
        _configFile = Path.Combine(Directory.CreateTempSubdirectory("hive-node-").FullName, "node.conf");
        File.WriteAllText(_configFile, extraHocon);
    }

    public string Name { get; }
    public BrokersFixture Brokers { get; }
    public int Guides { get; }
    public int ClusterPort { get; }
    public string? Seeds { get; }
    /// <summary>The HTTP API's port (0 = off), on 127.0.0.1 unless extraHocon sets hive.http.bind.</summary>
    public int HttpPort { get; }
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;
    public string Log => string.Join('\n', _log);

    /// <summary>Starts a node and waits until it consumes tasks (its log says the application started).</summary>
    public static async Task<HiveNodeProcess> StartAsync(BrokersFixture brokers, int guides = 2, string extraHocon = "", string? name = null,
        int? clusterPort = null, string? seeds = null, int httpPort = 0, string? tasksDir = null)
    {
        var node = new HiveNodeProcess(name ?? $"node-{Guid.NewGuid().ToString("N")[..6]}", brokers, guides, extraHocon, clusterPort ?? FreePort.Next(), seeds, httpPort,
            tasksDir);
        await node.StartAsync();
        return node;
    }

    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "hive.dll"), "--config", _configFile, "--rabbitmq", Brokers.Rabbit.Uri,
                     "--redis", Brokers.Redis.Endpoint, "node", "--guides", Guides.ToString(), "--tasks", _tasksDir, "--name", Name,
                     "--cluster-port", ClusterPort.ToString(), "--http-port", HttpPort.ToString(),
                 })
            psi.ArgumentList.Add(arg);
        if (Seeds is not null)
        {
            psi.ArgumentList.Add("--seeds");
            psi.ArgumentList.Add(Seeds);
        }
        _process = await NodeLauncher.StartAsync(psi, _log, Name, TimeSpan.FromSeconds(60));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>SIGKILL: the node dies without any chance to clean up.</summary>
    public async Task KillAsync()
    {
        if (_process is null || _process.HasExited) return;
        kill(_process.Id, 9);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as systemd or Ctrl-C would; waits for the node to exit.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (_process is null || _process.HasExited) return _process?.ExitCode ?? 0;
        kill(_process.Id, 15);
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Waits for the node to exit on its own; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        if (_process is null) return 0;
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            try { await TerminateAsync(TimeSpan.FromSeconds(20)); }
            catch (OperationCanceledException) { await KillAsync(); }
        }
        _process?.Dispose();
        try { Directory.Delete(Path.GetDirectoryName(_configFile)!, true); } catch (IOException) { }
    }
}
