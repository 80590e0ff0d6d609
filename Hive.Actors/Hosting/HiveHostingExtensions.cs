using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Event;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Hive.Actors.Callbacks;
using Hive.Actors.Configuration;
using Hive.Actors.Entities;
using Hive.Actors.Guides;
using Hive.Actors.Ingestion;
using Hive.Actors.Messaging;
using Hive.Actors.Processes;
using Hive.Actors.Progress;
using Hive.Actors.Reaper;
using Hive.Persistence.Redis.Hosting;
using Hive.Streams.Amqp;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hive.Actors.Hosting;

public static class HiveHostingExtensions
{
    public const string SystemName = "hive";

    /// <summary>Registers a whole Hive node: its services (Redis, RabbitMQ, callbacks) and its ActorSystem.</summary>
    public static IServiceCollection AddHiveNode(this IServiceCollection services, HiveSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var options = ConfigurationOptions.Parse(settings.RedisConfiguration);
            options.AbortOnConnectFail = false;
            options.ClientName = $"hive-{settings.NodeName}";
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton(_ => new AmqpConnectionProvider(
            AmqpConnectionSettings.Create(settings.RabbitUri).WithClientProvidedName($"hive-{settings.NodeName}")));
        services.AddSingleton(sp => new AmqpPublisher(sp.GetRequiredService<AmqpConnectionProvider>()));
        services.AddSingleton<IHiveBus>(sp => new RabbitHiveBus(sp.GetRequiredService<AmqpPublisher>(), settings));
        services.AddHttpClient<ICallbackSender, HttpCallbackSender>(client => client.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton(sp => new OpenTaskIndex(sp.GetRequiredService<IConnectionMultiplexer>()));
        services.AddSingleton(sp => new HiveServices(settings, sp.GetRequiredService<IHiveBus>(), sp.GetRequiredService<ICallbackSender>(),
            sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<OpenTaskIndex>()));
        services.AddSingleton(_ => new ScriptCatalog(ScriptCatalogSettings.Create(settings.TasksDir)));
        services.AddAkka(SystemName, (builder, sp) => builder.WithHiveNode(settings, sp));
        return services;
    }

    public static AkkaConfigurationBuilder WithHiveNode(this AkkaConfigurationBuilder builder, HiveSettings settings, IServiceProvider sp)
    {
        var services = sp.GetRequiredService<HiveServices>();
        var catalog = sp.GetRequiredService<ScriptCatalog>();
        var amqp = sp.GetRequiredService<AmqpConnectionProvider>();
        var seeds = settings.Seeds.Count == 0
            ? new[] { $"akka.tcp://{SystemName}@{settings.ClusterHostname}:{settings.ClusterPort}" }
            : settings.Seeds.Select(SeedAddress).ToArray();

        return builder
            // Akka's own log events go to the node's Microsoft.Extensions.Logging providers (console, JSON, hive.log file)
            // instead of Akka's synchronous stdout logger, which wrote each line from the actor's thread.
            .ConfigureLoggers(loggers =>
            {
                loggers.LogLevel = Akka.Event.LogLevel.InfoLevel;
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .AddHocon(Serialization, HoconAddMode.Prepend)
            .AddHocon($"akka.coordinated-shutdown.phases.service-unbind.timeout = {(int)(settings.DrainTimeout + settings.StopGrace).TotalSeconds + 30}s", HoconAddMode.Prepend)
            .WithRemoting(new RemoteOptions { HostName = settings.ClusterHostname, Port = settings.ClusterPort })
            .WithClustering(new ClusterOptions
            {
                SeedNodes = seeds,
                Roles = settings.Roles.ToArray(),
                SplitBrainResolver = SplitBrainResolverOption.Default,
            })
            .AddHocon(SplitBrainResolverHocon(settings), HoconAddMode.Prepend)
            .AddHocon(settings.AkkaOverrides, HoconAddMode.Prepend)
            .WithRedisPersistence(settings.RedisConfiguration, "hive:akka", services.Redis)
            .WithActors((system, registry) =>
            {
                var status = system.ActorOf(TaskStatusWriterActor.Props(services.Redis, settings), "status-writer");
                registry.Register<TaskStatusWriter>(status);
            })
            .WithShardRegion<TaskEntityRegion>("task",
                (system, registry, _) => id => TaskEntityActor.Props(id, services, registry.Get<TaskStatusWriter>()),
                new TaskMessageExtractor(),
                new ShardOptions { StateStoreMode = Akka.Cluster.Sharding.StateStoreMode.DData, RememberEntities = false })
            .WithSingleton<Reaper>("reaper", (_, registry, _) => ReaperActor.Props(services, registry.Get<TaskEntityRegion>()),
                new ClusterSingletonOptions())
            .WithActors((system, registry) =>
            {
                // Before any guide exists: kill what a SIGKILLed previous incarnation of this node left running.
                SweepOrphanedRuns(system, services);
                var status = registry.Get<TaskStatusWriter>();
                var entities = registry.Get<TaskEntityRegion>();
                var monitor = system.ActorOf(MonitorActor.Props(services, catalog, entities, status), "monitor");
                registry.Register<NodeMonitor>(monitor);
                registry.Register<ControlIngestion>(system.ActorOf(ControlIngestionActor.Props(services, amqp, monitor), "control-ingestion"));
                registry.Register<TaskIngestion>(system.ActorOf(TaskIngestionActor.Props(services, amqp, catalog, monitor, status), "task-ingestion"));
            });
    }

    /// <summary>
    /// Kills the script process groups recorded in this node's run ledger by a previous incarnation that died without
    /// cleaning up (their tasks are re-run from their claims by the reaper), and empties the ledger. A ledger that cannot
    /// be read is logged, not fatal: the node still runs, only without that protection.
    /// </summary>
    private static void SweepOrphanedRuns(ActorSystem system, HiveServices services)
    {
        var log = Logging.GetLogger(system, "hive.run-ledger");
        try
        {
            var sweep = services.Runs.SweepOrphans(services.Settings.KeepWorkDir);
            if (sweep.Recorded.Count > 0)
                log.Warning("Run ledger {Path}: a previous incarnation of this node left {Runs} run(s); killed {Groups} live process group(s) ({Which})",
                    services.Runs.Path, sweep.Recorded.Count, sweep.Killed.Count, string.Join(", ", sweep.Killed.Select(k => $"pgid {k.ProcessGroup}")));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Error(e, "Run ledger {Path} cannot be swept; scripts orphaned by an earlier crash of this node may still run", services.Runs.Path);
        }
    }

    /// <summary>
    /// The split brain resolver's timing (its strategy, keep-majority, comes from <see cref="SplitBrainResolverOption.Default"/>):
    /// hive.cluster.stable-after and hive.cluster.down-all-when-unstable.
    /// </summary>
    public static string SplitBrainResolverHocon(HiveSettings settings) => $$"""
        akka.cluster.split-brain-resolver {
          stable-after = {{(long)settings.StableAfter.TotalMilliseconds}}ms
          down-all-when-unstable = {{settings.DownAllWhenUnstable}}
        }
        """;

    /// <summary>"host:port" or a full akka.tcp:// address.</summary>
    public static string SeedAddress(string seed) =>
        seed.Contains("://", StringComparison.Ordinal) ? seed : $"akka.tcp://{SystemName}@{seed}";

    private const string Serialization = """
        akka.actor {
          serializers.hive = "Hive.Actors.Serialization.HiveMessageSerializer, Hive.Actors"
          serialization-bindings { "Hive.Actors.Entities.IHiveMessage, Hive.Actors" = hive }
          serialization-identifiers { "Hive.Actors.Serialization.HiveMessageSerializer, Hive.Actors" = 1742 }
        }
        akka.cluster.sharding.passivate-idle-entity-after = 2m
        akka.coordinated-shutdown.exit-clr = off
        """;
}
