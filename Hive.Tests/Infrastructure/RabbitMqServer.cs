using System.Diagnostics;

namespace Hive.Tests.Infrastructure;

/// <summary>
/// A throwaway rabbitmq-server with its own node name, AMQP and distribution ports, mnesia and log folders.
/// Debian's broker runs as the rabbitmq user, so its folder belongs to that user.
/// </summary>
public sealed class RabbitMqServer : IAsyncDisposable
{
    public const string Binary = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private readonly string _dir;
    private Process? _process;

    public int Port { get; } = FreePort.Next();
    public int DistPort { get; } = FreePort.Next();
    public string NodeName { get; } = $"hivetest{Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..6]}@localhost";
    public string Uri => $"amqp://guest:guest@127.0.0.1:{Port}/";

    private RabbitMqServer()
    {
        _dir = Directory.CreateTempSubdirectory("hive-rabbit-").FullName;
    }

    public static async Task<RabbitMqServer> StartNewAsync()
    {
        var server = new RabbitMqServer();
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        await DebianPackages.EnsureAsync(Binary);
        await Chown(_dir);
        var psi = new ProcessStartInfo("runuser") { WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-u", "rabbitmq", "--", "env",
                     $"HOME={_dir}",
                     $"RABBITMQ_NODENAME={NodeName}",
                     "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
                     $"RABBITMQ_NODE_PORT={Port}",
                     $"RABBITMQ_DIST_PORT={DistPort}",
                     $"RABBITMQ_MNESIA_BASE={_dir}/mnesia",
                     $"RABBITMQ_LOG_BASE={_dir}/log",
                     $"RABBITMQ_PID_FILE={_dir}/pid",
                     $"RABBITMQ_ENABLED_PLUGINS_FILE={_dir}/enabled_plugins",
                     $"RABBITMQ_CONFIG_FILE={_dir}/rabbitmq",
                     $"RABBITMQ_ADVANCED_CONFIG_FILE={_dir}/advanced.config",
                     Binary })
            psi.ArgumentList.Add(arg);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await FreePort.WaitListeningAsync(Port, TimeSpan.FromSeconds(60), () => ReadLog());
    }

    /// <summary>Runs rabbitmqctl against this broker (for diagnostics); returns its output, or the error.</summary>
    public async Task<string> CtlAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-u", "rabbitmq", "--", "env", $"HOME={_dir}", "/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", NodeName, "-q" }.Concat(args))
            psi.ArgumentList.Add(arg);
        try
        {
            using var process = Process.Start(psi)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return (await output + await error).Trim();
        }
        catch (Exception e)
        {
            return $"rabbitmqctl failed: {e.Message}";
        }
    }

    private string ReadLog()
    {
        try
        {
            return string.Join("\n", Directory.GetFiles(Path.Combine(_dir, "log")).Select(f => File.ReadAllText(f)).Select(t => t.Length > 2000 ? t[^2000..] : t));
        }
        catch (Exception e)
        {
            return e.Message;
        }
    }

    private static async Task Chown(string dir)
    {
        using var p = Process.Start("chown", new[] { "-R", "rabbitmq:rabbitmq", dir })!;
        await p.WaitForExitAsync();
    }

    public async Task StopAsync()
    {
        if (_process is null) return;
        var pidFile = Path.Combine(_dir, "pid");
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid))
        {
            try
            {
                using var beam = Process.GetProcessById(pid);
                beam.Kill();
                await beam.WaitForExitAsync();
            }
            catch (ArgumentException) { }
        }
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
        File.Delete(pidFile);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (Exception) { }
    }
}
