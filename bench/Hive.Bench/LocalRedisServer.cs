using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Hive.Bench;

/// <summary>A throwaway redis-server on a free loopback port (as Hive.Tests' RedisServer), deleted on dispose.</summary>
internal sealed class LocalRedisServer : IAsyncDisposable
{
    private const string Binary = "/usr/bin/redis-server";
    private readonly string _dir = Directory.CreateTempSubdirectory("hive-bench-redis-").FullName;
    private readonly Process _process;

    private LocalRedisServer(int port, Process process)
    {
        Port = port;
        _process = process;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false";

    public string Endpoint => $"127.0.0.1:{Port}";

    public static async Task<LocalRedisServer> StartAsync()
    {
        if (!File.Exists(Binary))
            throw new FileNotFoundException($"{Binary} is missing; install redis-server (apt-get install redis-server) or run deploy/ scripts.");
        var port = FreePort();
        var psi = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        // Persistence off: the benchmark measures the plugin and the protocol, not the disk.
        foreach (var arg in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" })
            psi.ArgumentList.Add(arg);
        psi.WorkingDirectory = Path.GetTempPath();
        var process = Process.Start(psi) ?? throw new InvalidOperationException("redis-server did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new LocalRedisServer(port, process);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await IsListeningAsync(port))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"redis-server did not listen on {port} within 20 s");
            await Task.Delay(100);
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
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
