using Akka.Configuration;
using Hive.Actors.Configuration;

namespace Hive.Node;

/// <summary>
/// Layers the configuration: embedded hocon/hive.conf defaults, then --config FILE, then HIVE_* environment
/// variables, then command-line flags (later wins).
/// </summary>
public sealed record NodeOverrides(
    string? ConfigFile = null, string? RabbitMq = null, string? Redis = null, int? Guides = null, string? Tasks = null,
    string? Name = null, int? ClusterPort = null, string? Seeds = null, int? HttpPort = null, string? Hostname = null)
{
    public static readonly IReadOnlyDictionary<string, string> EnvironmentKeys = new Dictionary<string, string>
    {
        ["HIVE_RABBITMQ"] = "hive.rabbitmq.uri",
        ["HIVE_REDIS"] = "hive.redis.configuration",
        ["HIVE_GUIDES"] = "hive.node.guides",
        ["HIVE_TASKS"] = "hive.tasks.dir",
        ["HIVE_NAME"] = "hive.node.name",
        ["HIVE_CLUSTER_PORT"] = "hive.cluster.port",
        ["HIVE_CLUSTER_HOSTNAME"] = "hive.cluster.hostname",
        ["HIVE_SEEDS"] = "hive.cluster.seeds",
        ["HIVE_HTTP_PORT"] = "hive.http.port",
        ["HIVE_CALLBACK_SECRET"] = "hive.callbacks.secret",
        ["HIVE_ALLOW_COMMANDS"] = "hive.tasks.allow-commands",
        ["HIVE_TASK_QUEUE"] = "hive.rabbitmq.task-queue",
        ["HIVE_ADMISSION_MAX_CPU_PERCENT"] = "hive.node.admission.max-cpu-percent",
        ["HIVE_ADMISSION_MAX_MEMORY_PERCENT"] = "hive.node.admission.max-memory-percent",
    };

    public Config Build(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var layers = new List<Config>();
        var values = new Dictionary<string, string>();
        foreach (var (variable, path) in EnvironmentKeys)
            if (environment(variable) is { Length: > 0 } value) values[path] = value;
        void Set(string path, object? value) { if (value is not null) values[path] = value.ToString()!; }
        Set("hive.rabbitmq.uri", RabbitMq);
        Set("hive.redis.configuration", Redis);
        Set("hive.node.guides", Guides);
        Set("hive.tasks.dir", Tasks);
        Set("hive.node.name", Name);
        Set("hive.cluster.port", ClusterPort);
        Set("hive.cluster.seeds", Seeds);
        Set("hive.http.port", HttpPort);
        Set("hive.cluster.hostname", Hostname);

        var config = ConfigurationFactory.Empty;
        foreach (var (path, value) in values)
            config = ConfigurationFactory.ParseString($"{path} = {Render(path, value)}").WithFallback(config);
        if (ConfigFile is not null)
        {
            if (!File.Exists(ConfigFile)) throw new FileNotFoundException($"config file {ConfigFile} does not exist");
            config = config.WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(ConfigFile)));
        }
        return config.WithFallback(HiveSettings.DefaultConfig);
    }

    private static string Render(string path, string value)
    {
        if (path == "hive.cluster.seeds")
        {
            var seeds = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return "[" + string.Join(",", seeds.Select(Quote)) + "]";
        }
        return Quote(value);
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
