using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Hive.Tests.Infrastructure;

namespace Hive.Tests.Hardening;

/// <summary>
/// A real `hive node` process (the built hive.dll) for the hardening specs. Unlike
/// <see cref="Integration.HiveNodeProcess"/> it takes the broker addresses as strings (so they can carry credentials),
/// its own tasks folder and environment, and it samples the node's resident memory from /proc.
/// </summary>
public sealed class HardenedNode : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _folder;
    private readonly Options _options;
    private Process? _process;

    /// <summary>How to start the node. <see cref="RedisConfiguration"/> is a StackExchange.Redis configuration string.</summary>
    public sealed record Options(string RabbitUri, string RedisConfiguration)
    {
        public int Guides { get; init; } = 2;
        public string TasksDir { get; init; } = RepoPaths.Tasks;
        public string ExtraHocon { get; init; } = "";
        public int HttpPort { get; init; }
        public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

        /// <summary>Pass the broker addresses in HIVE_RABBITMQ / HIVE_REDIS instead of flags (a command line is readable by every user).</summary>
        public bool BrokersInEnvironment { get; init; }
    }

    private HardenedNode(Options options)
    {
        _options = options;
        _folder = Directory.CreateTempSubdirectory("hive-hardened-").FullName;
        Name = $"hard-{Guid.NewGuid().ToString("N")[..6]}";
        // A short drain keeps teardown quick should a test leave something running.
        File.WriteAllText(ConfigFile, "hive.node.drain-timeout = 2s\n" + options.ExtraHocon);
    }

    public string Name { get; }
    public int HttpPort => _options.HttpPort;
    public string ConfigFile => Path.Combine(_folder, "node.conf");
    public int Pid => _process is { HasExited: false } p ? p.Id : throw new InvalidOperationException($"node {Name} is not running:\n{Log}");
    public bool IsRunning => _process is { HasExited: false };
    public string Log => string.Join('\n', _log);

    public static async Task<HardenedNode> StartAsync(Options options)
    {
        var node = new HardenedNode(options);
        await node.StartAsync();
        return node;
    }

    private async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "hive.dll"), "--config", ConfigFile, "node", "--guides", _options.Guides.ToString(CultureInfo.InvariantCulture),
                     "--tasks", _options.TasksDir, "--name", Name, "--cluster-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
                     "--http-port", _options.HttpPort.ToString(CultureInfo.InvariantCulture),
                 })
            psi.ArgumentList.Add(arg);
        if (_options.BrokersInEnvironment)
        {
            psi.Environment["HIVE_RABBITMQ"] = _options.RabbitUri;
            psi.Environment["HIVE_REDIS"] = _options.RedisConfiguration;
        }
        else
        {
            var at = 3; // after "hive.dll --config FILE", before "node"
            foreach (var arg in new[] { "--rabbitmq", _options.RabbitUri, "--redis", _options.RedisConfiguration }) psi.ArgumentList.Insert(at++, arg);
        }
        foreach (var (name, value) in _options.Environment) psi.Environment[name] = value;
        _process = await NodeLauncher.StartAsync(psi, _log, Name, TimeSpan.FromSeconds(90));
    }

    /// <summary>The node's resident set size in KiB (VmRSS of /proc/&lt;pid&gt;/status).</summary>
    public long VmRssKiB() => ProcStatusKiB(Pid, "VmRSS:");

    /// <summary>The node's peak resident set size in KiB since it started (VmHWM).</summary>
    public long VmHwmKiB() => ProcStatusKiB(Pid, "VmHWM:");

    public static long ProcStatusKiB(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"/proc/{pid}/status has no {field}");
    }

    /// <summary>Samples <see cref="VmRssKiB"/> every <paramref name="every"/> until cancelled; returns the highest value seen.</summary>
    public async Task<long> SampleMaxRssAsync(TimeSpan every, CancellationToken stop)
    {
        long max = 0;
        while (!stop.IsCancellationRequested)
        {
            if (IsRunning) max = Math.Max(max, VmRssKiB());
            try { await Task.Delay(every, stop); }
            catch (OperationCanceledException) { break; }
        }
        return max;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            kill(_process.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await _process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException)
            {
                kill(_process.Id, 9);
                await _process.WaitForExitAsync();
            }
        }
        _process?.Dispose();
        var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "test-logs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(logs, $"hardening-{Name}.log"), Log);
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }
}
