using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Hive.Bench;

/// <summary>
/// A throwaway rabbitmq-server on free loopback ports (as Hive.Tests' RabbitMqServer): its own node name, mnesia and
/// log folders, run as the rabbitmq user that Debian's package creates; deleted on dispose.
/// </summary>
internal sealed class LocalRabbitMqServer : IAsyncDisposable
{
    private const string Binary = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private readonly string _dir = Directory.CreateTempSubdirectory("hive-bench-rabbit-").FullName;
    private Process? _process;

    private LocalRabbitMqServer()
    {
    }

    public int Port { get; } = FreePort();

    public int DistPort { get; } = FreePort();

    public string Uri => $"amqp://guest:guest@127.0.0.1:{Port}/";

    public static async Task<LocalRabbitMqServer> StartAsync()
    {
        if (!File.Exists(Binary))
            throw new FileNotFoundException($"{Binary} is missing; install rabbitmq-server (deploy/install-deps.sh).");
        var server = new LocalRabbitMqServer();
        await RunAsync("chown", "-R", "rabbitmq:rabbitmq", server._dir);
        var psi = new ProcessStartInfo("runuser") { WorkingDirectory = server._dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     "-u", "rabbitmq", "--", "env", $"HOME={server._dir}",
                     $"RABBITMQ_NODENAME=hivebench{Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..6]}@localhost",
                     "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", $"RABBITMQ_NODE_PORT={server.Port}", $"RABBITMQ_DIST_PORT={server.DistPort}",
                     $"RABBITMQ_MNESIA_BASE={server._dir}/mnesia", $"RABBITMQ_LOG_BASE={server._dir}/log", $"RABBITMQ_PID_FILE={server._dir}/pid",
                     $"RABBITMQ_ENABLED_PLUGINS_FILE={server._dir}/enabled_plugins", $"RABBITMQ_CONFIG_FILE={server._dir}/rabbitmq",
                     $"RABBITMQ_ADVANCED_CONFIG_FILE={server._dir}/advanced.config", Binary,
                 })
            psi.ArgumentList.Add(arg);
        server._process = Process.Start(psi) ?? throw new InvalidOperationException("rabbitmq-server did not start");
        server._process.OutputDataReceived += (_, _) => { };
        server._process.ErrorDataReceived += (_, _) => { };
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!await IsListeningAsync(server.Port))
        {
            if (DateTime.UtcNow > deadline || server._process.HasExited)
            {
                await server.DisposeAsync();
                throw new TimeoutException($"rabbitmq-server did not listen on 127.0.0.1:{server.Port} within 90 s");
            }

            await Task.Delay(100);
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        var pidFile = Path.Combine(_dir, "pid");
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid))
        {
            try
            {
                using var beam = Process.GetProcessById(pid);
                beam.Kill();
                await beam.WaitForExitAsync();
            }
            catch (ArgumentException)
            {
                // already gone
            }
        }

        if (_process is { HasExited: false }) _process.Kill(entireProcessTree: true);
        if (_process is not null) await _process.WaitForExitAsync();
        _process?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var p = Process.Start(file, args);
        await p.WaitForExitAsync();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<bool> IsListeningAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
