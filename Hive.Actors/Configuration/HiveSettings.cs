using Akka.Configuration;
using Hive.Actors.Admission;

namespace Hive.Actors.Configuration;

/// <summary>Everything a node needs, read from the <c>hive</c> HOCON section (see hocon/hive.conf for defaults).</summary>
public sealed record HiveSettings
{
    public required string NodeName { get; init; }
    public required int Guides { get; init; }
    public required TimeSpan DrainTimeout { get; init; }
    public required TimeSpan HeartbeatInterval { get; init; }
    public required TimeSpan ParkAfter { get; init; }
    public required TimeSpan IdleTrimAfter { get; init; }
    public required TimeSpan IdleTrimEvery { get; init; }
    public required bool AllowFaultInjection { get; init; }
    public required AdmissionSettings Admission { get; init; }

    public required string TasksDir { get; init; }
    public required string WorkDir { get; init; }
    public required bool KeepWorkDir { get; init; }
    public required bool AllowCommands { get; init; }
    public required int MaxBodyBytes { get; init; }
    public required int MaxArgsDepth { get; init; }
    public required int DefaultMaxAttempts { get; init; }
    public required int DefaultProgressLength { get; init; }
    public required int DefaultResultLength { get; init; }
    public required TimeSpan RetryBackoff { get; init; }
    public required TimeSpan RetryBackoffMax { get; init; }
    public required TimeSpan StopGrace { get; init; }
    public required TimeSpan LeaseRenewInterval { get; init; }
    public required TimeSpan ClusterSlotLease { get; init; }
    public required TimeSpan ClusterSlotRetry { get; init; }
    public required int MaxLineBytes { get; init; }

    /// <summary>hive.tasks.run-as-user: the user scripts run as; empty = the node's own user.</summary>
    public string RunAsUser { get; init; } = "";

    public required string RabbitUri { get; init; }
    public required string TaskQueue { get; init; }
    public required string DeadLetterQueue { get; init; }
    public required string ControlExchange { get; init; }
    public required string ResultsExchange { get; init; }
    public required bool SeedControl { get; init; }
    public required string SeedControlExchange { get; init; }
    public required string SeedControlRoutingKey { get; init; }

    public required string RedisConfiguration { get; init; }
    public required TimeSpan TaskTtl { get; init; }
    public required TimeSpan ProgressInterval { get; init; }
    public required int EventsMaxLength { get; init; }
    public required bool SeedCompat { get; init; }

    public required int CallbackMaxAttempts { get; init; }
    public required TimeSpan CallbackBackoff { get; init; }
    public required TimeSpan CallbackTimeout { get; init; }
    public required string CallbackSecret { get; init; }

    public required string ClusterHostname { get; init; }
    public required int ClusterPort { get; init; }
    public required IReadOnlyList<string> Seeds { get; init; }
    public required IReadOnlyList<string> Roles { get; init; }
    public required TimeSpan ReaperInterval { get; init; }
    public required TimeSpan StableAfter { get; init; }

    /// <summary>"on", "off" or a HOCON duration (akka.cluster.split-brain-resolver.down-all-when-unstable).</summary>
    public required string DownAllWhenUnstable { get; init; }

    /// <summary>
    /// The <c>akka</c> section of the configuration layers (hocon/hive.conf, then --config FILE): Hive's own Akka defaults
    /// and expert tuning such as the failure detector, layered over everything Hive renders.
    /// </summary>
    public Config AkkaOverrides { get; init; } = Config.Empty;

    public required int HttpPort { get; init; }

    /// <summary>The defaults of hocon/hive.conf, embedded in this assembly.</summary>
    public static Config DefaultConfig { get; } = LoadDefaults();

    public static HiveSettings FromConfig(Config config)
    {
        // Akka's Empty.WithFallback(x) returns x itself, and x.WithFallback(x) throws: layers with no overrides are DefaultConfig.
        var merged = ReferenceEquals(config, DefaultConfig) ? config : config.WithFallback(DefaultConfig);
        var hive = merged.GetConfig("hive");
        var name = hive.GetString("node.name");
        var workDir = hive.GetString("tasks.work-dir");
        return new HiveSettings
        {
            NodeName = string.IsNullOrWhiteSpace(name) ? Environment.MachineName : name,
            Guides = hive.GetInt("node.guides"),
            DrainTimeout = hive.GetTimeSpan("node.drain-timeout"),
            HeartbeatInterval = hive.GetTimeSpan("node.heartbeat-interval"),
            ParkAfter = hive.GetTimeSpan("node.park-after"),
            IdleTrimAfter = hive.GetTimeSpan("node.idle-trim-after"),
            IdleTrimEvery = hive.GetTimeSpan("node.idle-trim-every"),
            AllowFaultInjection = hive.GetBoolean("node.allow-fault-injection"),
            Admission = AdmissionSettings.Create(hive.GetDouble("node.admission.max-cpu-percent"), hive.GetDouble("node.admission.max-memory-percent"),
                hive.GetTimeSpan("node.admission.interval")),
            TasksDir = Path.GetFullPath(hive.GetString("tasks.dir")),
            WorkDir = string.IsNullOrWhiteSpace(workDir) ? Path.Combine(Path.GetTempPath(), "hive-work") : Path.GetFullPath(workDir),
            KeepWorkDir = hive.GetBoolean("tasks.keep-work-dir"),
            AllowCommands = hive.GetBoolean("tasks.allow-commands"),
            MaxBodyBytes = hive.GetInt("tasks.max-body-bytes"),
            MaxArgsDepth = hive.GetInt("tasks.max-args-depth"),
            DefaultMaxAttempts = hive.GetInt("tasks.default-max-attempts"),
            DefaultProgressLength = hive.GetInt("tasks.default-progress-length"),
            DefaultResultLength = hive.GetInt("tasks.default-result-length"),
            RetryBackoff = hive.GetTimeSpan("tasks.retry-backoff"),
            RetryBackoffMax = hive.GetTimeSpan("tasks.retry-backoff-max"),
            StopGrace = hive.GetTimeSpan("tasks.stop-grace"),
            LeaseRenewInterval = hive.GetTimeSpan("tasks.lease-renew-interval"),
            ClusterSlotLease = Positive(hive, "tasks.cluster-slot-lease"),
            ClusterSlotRetry = Positive(hive, "tasks.cluster-slot-retry"),
            MaxLineBytes = hive.GetInt("tasks.max-line-bytes"),
            RunAsUser = hive.GetString("tasks.run-as-user", "") ?? "",
            RabbitUri = hive.GetString("rabbitmq.uri"),
            TaskQueue = hive.GetString("rabbitmq.task-queue"),
            DeadLetterQueue = hive.GetString("rabbitmq.dead-letter-queue"),
            ControlExchange = hive.GetString("rabbitmq.control-exchange"),
            ResultsExchange = hive.GetString("rabbitmq.results-exchange"),
            SeedControl = hive.GetBoolean("rabbitmq.seed-control"),
            SeedControlExchange = hive.GetString("rabbitmq.seed-control-exchange"),
            SeedControlRoutingKey = hive.GetString("rabbitmq.seed-control-routing-key"),
            RedisConfiguration = hive.GetString("redis.configuration"),
            TaskTtl = hive.GetTimeSpan("redis.task-ttl"),
            ProgressInterval = hive.GetTimeSpan("redis.progress-interval"),
            EventsMaxLength = hive.GetInt("redis.events-max-length"),
            SeedCompat = hive.GetBoolean("redis.seed-compat"),
            CallbackMaxAttempts = hive.GetInt("callbacks.max-attempts"),
            CallbackBackoff = hive.GetTimeSpan("callbacks.backoff"),
            CallbackTimeout = hive.GetTimeSpan("callbacks.timeout"),
            CallbackSecret = hive.GetString("callbacks.secret"),
            ClusterHostname = hive.GetString("cluster.hostname"),
            ClusterPort = hive.GetInt("cluster.port"),
            Seeds = hive.GetStringList("cluster.seeds").ToArray(),
            Roles = hive.GetStringList("cluster.roles").ToArray(),
            ReaperInterval = hive.GetTimeSpan("cluster.reaper-interval"),
            StableAfter = hive.GetTimeSpan("cluster.stable-after"),
            DownAllWhenUnstable = DownAllWhenUnstableValue(hive.GetString("cluster.down-all-when-unstable")),
            AkkaOverrides = merged.HasPath("akka")
                ? ConfigurationFactory.ParseString("akka {\n" + merged.GetConfig("akka").ToString(includeFallback: true) + "\n}")
                : Config.Empty,
            HttpPort = hive.GetInt("http.port"),
        };
    }

    private static TimeSpan Positive(Config hive, string key)
    {
        var value = hive.GetTimeSpan(key);
        return value > TimeSpan.Zero ? value : throw new Akka.Configuration.ConfigurationException($"hive.{key} must be longer than 0, not {value}");
    }

    private static string DownAllWhenUnstableValue(string value)
    {
        var trimmed = value.Trim();
        if (trimmed is "on" or "off") return trimmed;
        if (trimmed is "true" or "yes") return "on";
        if (trimmed is "false" or "no") return "off";
        try
        {
            ConfigurationFactory.ParseString($"d = {trimmed}").GetTimeSpan("d");
            return trimmed;
        }
        catch (Exception e) when (e is FormatException or Akka.Configuration.ConfigurationException or ArgumentException or OverflowException)
        {
            throw new Akka.Configuration.ConfigurationException($"hive.cluster.down-all-when-unstable must be on, off or a duration, not '{value}'");
        }
    }

    /// <summary>
    /// Retry delay before attempt <paramref name="nextAttempt"/> (2, 3, …): the first delay (a script manifest's
    /// <c>backoffSeconds</c>, else <c>retry-backoff</c>) doubling per attempt, capped at the larger of
    /// <c>retry-backoff-max</c> and that first delay.
    /// </summary>
    public TimeSpan RetryDelay(int nextAttempt, double? firstDelaySeconds = null)
    {
        var first = firstDelaySeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : RetryBackoff;
        var factor = Math.Pow(2, Math.Max(0, nextAttempt - 2));
        var cap = Math.Max(RetryBackoffMax.TotalMilliseconds, first.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(Math.Min(first.TotalMilliseconds * factor, cap));
    }

    public override string ToString() =>
        $"HiveSettings(node={NodeName}, guides={Guides}, tasks={TasksDir}, rabbitmq={Redact.Uri(RabbitUri)}, redis={Redact.RedisConfiguration(RedisConfiguration)}, cluster={ClusterHostname}:{ClusterPort})";

    private static Config LoadDefaults()
    {
        using var stream = typeof(HiveSettings).Assembly.GetManifestResourceStream("Hive.hive.conf")
            ?? throw new InvalidOperationException("embedded hive.conf is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}

/// <summary>Removes secrets from connection strings before they reach a log line or status output.</summary>
public static class Redact
{
    public static string Uri(string uri)
    {
        if (!System.Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || string.IsNullOrEmpty(parsed.UserInfo)) return uri;
        var user = parsed.UserInfo.Split(':')[0];
        return new UriBuilder(parsed) { UserName = user, Password = "***" }.Uri.ToString();
    }

    public static string RedisConfiguration(string configuration) =>
        string.Join(",", configuration.Split(',').Select(part =>
            part.TrimStart().StartsWith("password=", StringComparison.OrdinalIgnoreCase) ? "password=***" : part));
}
