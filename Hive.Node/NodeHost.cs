using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Hive.Actors.Configuration;
using Hive.Actors.Guides;
using Hive.Actors.Hosting;
using Hive.Actors.Ingestion;
using Hive.Actors.Messaging;
using Hive.Node.Http;
using Hive.Streams.Amqp;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hive.Node;

/// <summary>Builds and runs the `hive node` host.</summary>
public static class NodeHost
{
    public static IHost Build(HiveSettings settings) => Build(settings, HiveSettings.DefaultConfig);

    /// <summary>
    /// The node's host; with <c>hive.http.port</c> &gt; 0 it also serves the HTTP API (<see cref="HiveHttpApi"/>) from the same
    /// generic host. <paramref name="config"/> is the layered configuration <paramref name="settings"/> was read from.
    /// </summary>
    public static IHost Build(HiveSettings settings, Config config)
    {
        var http = HttpApiSettings.FromConfig(config, settings);
        var logs = LogSettings.FromConfig(config);
        if (!http.Enabled)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            AddNode(builder, settings, logs);
            return builder.Build();
        }
        // Resolved before anything starts: a node that must not listen (no token beyond loopback) fails here, clearly.
        return BuildWithHttpApi(settings, logs, http, ApiToken.Resolve(http));
    }

    // Kept out of Build, never inlined: compiling a method that names ASP.NET Core's types loads their assemblies
    // (Kestrel, routing, hosting: ~6 MB of an idle node's RSS) even when the API is off.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IHost BuildWithHttpApi(HiveSettings settings, LogSettings logs, HttpApiSettings http, ApiToken token)
    {
        var builder = HiveHttpApi.CreateBuilder(http);
        AddNode(builder, settings, logs);
        builder.Services.AddHiveHttpApi(http, token);
        return HiveHttpApi.Build(builder);
    }

    private static void AddNode(IHostApplicationBuilder builder, HiveSettings settings, LogSettings logs)
    {
        builder.Logging.ClearProviders();
        if (logs.Json)
            builder.Logging.AddJsonConsole(o => { o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; o.UseUtcTimestamp = true; });
        else
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        if (logs.File.Length > 0) builder.Logging.AddProvider(new FileLoggerProvider(logs.File));
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.DrainTimeout + TimeSpan.FromSeconds(30));
        builder.Services.AddHiveNode(settings);
        builder.Services.AddHostedService<NodeLifecycle>();
    }

    /// <summary>
    /// The process exit code after the host stopped: 3 when the cluster downed this node (so a supervisor with
    /// Restart=on-failure starts it again and it rejoins), else the host's exit code (0 after a normal stop).
    /// </summary>
    public static int ExitCode(ActorSystem system)
    {
        var reason = CoordinatedShutdown.Get(system).ShutdownReason;
        return reason is CoordinatedShutdown.ClusterDowningReason ? DownedExitCode : Environment.ExitCode;
    }

    public const int DownedExitCode = 3;
}

/// <summary>
/// Declares the broker topology before the streams start, and drains on shutdown: CoordinatedShutdown's
/// service-unbind phase stops task ingestion and lets the monitor finish or hand back running tasks.
/// </summary>
public sealed class NodeLifecycle(ActorSystem system, IActorRegistry registry, HiveSettings settings, AmqpConnectionProvider amqp, ILogger<NodeLifecycle> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        log.LogInformation("Hive node {Settings} starting", settings);
        await HiveTopology.DeclareAsync(amqp, settings, cancellationToken);
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceUnbind, "hive-drain", async () =>
        {
            var ingestion = await registry.GetAsync<TaskIngestion>();
            await ingestion.Ask<Akka.Done>(StopIngestion.Instance, TimeSpan.FromSeconds(5));
            var monitor = await registry.GetAsync<NodeMonitor>();
            if (shutdown.ShutdownReason is CoordinatedShutdown.ClusterDowningReason)
            {
                // The cluster downed this node: its claims are being released to the survivors, so its scripts stop now.
                log.LogWarning("This node was downed by the cluster: stopping its running scripts without a drain period");
                await monitor.Ask<Drained>(Drain.Immediately, settings.StopGrace + TimeSpan.FromSeconds(20));
                return Akka.Done.Instance;
            }
            log.LogInformation("Draining: up to {Timeout}", settings.DrainTimeout);
            await monitor.Ask<Drained>(Drain.Instance, settings.DrainTimeout + settings.StopGrace + TimeSpan.FromSeconds(20));
            return Akka.Done.Instance;
        });
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
