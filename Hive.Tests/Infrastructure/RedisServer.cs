using System.Diagnostics;

namespace Hive.Tests.Infrastructure;

/// <summary>A throwaway redis-server on a free loopback port in a temp folder; can be stopped and started again on the same port.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/redis-server";
    private readonly string _dir = Directory.CreateTempSubdirectory("hive-redis-").FullName;
    private Process? _process;

    /// <summary>
    /// Append-only file with fsync on every write (<c>--appendonly yes --appendfsync always</c>): a stop and start keeps
    /// every acknowledged write, as a production Redis would. Off (the default): nothing survives a restart.
    /// </summary>
    public bool Durable { get; private init; }

    public int Port { get; } = FreePort.Next();

    /// <summary>When set, the server requires it (<c>--requirepass</c>) and <see cref="ConnectionString"/> carries it.</summary>
    public string? Password { get; init; }

    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=3000,asyncTimeout=3000" +
        (Password is null ? "" : $",password={Password}");
    public string Endpoint => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartNewAsync(bool durable = false)
    {
        var server = new RedisServer { Durable = durable };
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        await DebianPackages.EnsureAsync(Binary);
        var psi = new ProcessStartInfo(Binary) { WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", _dir, "--save", "", "--appendonly", Durable ? "yes" : "no", "--appendfsync", Durable ? "always" : "everysec", "--daemonize", "no", "--protected-mode", "no" })
            psi.ArgumentList.Add(arg);
        if (Password is not null)
        {
            psi.ArgumentList.Add("--requirepass");
            psi.ArgumentList.Add(Password);
        }
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await FreePort.WaitListeningAsync(Port, TimeSpan.FromSeconds(20));
    }

    public async Task StopAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
