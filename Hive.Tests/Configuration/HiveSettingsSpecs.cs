using System.Text.RegularExpressions;
using Akka.Configuration;
using Hive.Actors.Configuration;
using Hive.Actors.Hosting;
using Hive.Node;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Configuration;

/// <summary>hocon/hive.conf defaults and documentation, the node's configuration layers, and secrets kept out of text.</summary>
public sealed partial class HiveSettingsSpecs : IDisposable
{
    private static readonly string ConfFile = Path.Combine(RepoPaths.Root, "hocon", "hive.conf");
    private readonly string _dir = Directory.CreateTempSubdirectory("hive-config-spec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Func<string, string?> Env(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    private string WriteConfig(string hocon)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, hocon);
        return path;
    }

    [Fact]
    public void The_embedded_defaults_are_the_documented_defaults()
    {
        var settings = HiveSettings.FromConfig(ConfigurationFactory.Empty);

        Assert.Equal(Environment.MachineName, settings.NodeName);
        Assert.Equal(4, settings.Guides);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.DrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), settings.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(2), settings.ParkAfter);
        Assert.Equal((TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(1)), (settings.ClusterSlotLease, settings.ClusterSlotRetry));
        Assert.Equal(TimeSpan.FromSeconds(10), settings.IdleTrimAfter);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.IdleTrimEvery);
        Assert.False(settings.AllowFaultInjection);

        Assert.Equal(Path.GetFullPath("tasks"), settings.TasksDir);
        Assert.Equal(Path.Combine(Path.GetTempPath(), "hive-work"), settings.WorkDir);
        Assert.False(settings.KeepWorkDir);
        Assert.False(settings.AllowCommands);
        Assert.Equal(1048576, settings.MaxBodyBytes);
        Assert.Equal(32, settings.MaxArgsDepth);
        Assert.Equal(3, settings.DefaultMaxAttempts);
        Assert.Equal(20, settings.DefaultProgressLength);
        Assert.Equal(1, settings.DefaultResultLength);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.RetryBackoff);
        Assert.Equal(TimeSpan.FromSeconds(60), settings.RetryBackoffMax);
        Assert.Equal(TimeSpan.FromSeconds(5), settings.StopGrace);
        Assert.Equal(65536, settings.MaxLineBytes);

        Assert.Equal("amqp://guest:guest@localhost:5672/", settings.RabbitUri);
        Assert.Equal("hive.tasks", settings.TaskQueue);
        Assert.Equal("hive.tasks.dead", settings.DeadLetterQueue);
        Assert.Equal("hive.control", settings.ControlExchange);
        Assert.Equal("hive.results", settings.ResultsExchange);
        Assert.True(settings.SeedControl);
        Assert.Equal("hive", settings.SeedControlExchange);
        Assert.Equal("hive.state", settings.SeedControlRoutingKey);

        Assert.Equal("localhost:6379", settings.RedisConfiguration);
        Assert.Equal(TimeSpan.FromDays(7), settings.TaskTtl);
        Assert.Equal(TimeSpan.FromMilliseconds(250), settings.ProgressInterval);
        Assert.Equal(10000, settings.EventsMaxLength);
        Assert.False(settings.SeedCompat);

        Assert.Equal(6, settings.CallbackMaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.CallbackBackoff);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.CallbackTimeout);
        Assert.Equal("", settings.CallbackSecret);

        Assert.Equal("localhost", settings.ClusterHostname);
        Assert.Equal(4053, settings.ClusterPort);
        Assert.Empty(settings.Seeds);
        Assert.Equal(["worker"], settings.Roles);
        Assert.Equal(TimeSpan.FromSeconds(2), settings.ReaperInterval);
        Assert.Equal(8080, settings.HttpPort);
    }

    [Theory]
    [InlineData("hive.tasks.cluster-slot-lease = 0s")]
    [InlineData("hive.tasks.cluster-slot-retry = 0s")]
    public void A_cluster_slot_lease_or_retry_of_zero_is_refused_with_the_key_named(string hocon)
    {
        var error = Assert.Throws<ConfigurationException>(() => HiveSettings.FromConfig(ConfigurationFactory.ParseString(hocon)));
        Assert.Contains(hocon.Split(' ')[0], error.Message);
    }

    [Fact]
    public void The_embedded_defaults_are_the_repository_hive_conf()
    {
        using var stream = typeof(HiveSettings).Assembly.GetManifestResourceStream("Hive.hive.conf");
        Assert.NotNull(stream);
        using var reader = new StreamReader(stream);

        Assert.Equal(File.ReadAllText(ConfFile).ReplaceLineEndings(), reader.ReadToEnd().ReplaceLineEndings());
    }

    [Fact]
    public void Every_key_in_hive_conf_has_a_comment_directly_above_it_stating_its_default_value()
    {
        var lines = File.ReadAllLines(ConfFile);
        var keys = 0;
        var problems = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var key = KeyLine().Match(lines[i]);
            if (!key.Success) continue;
            keys++;
            var name = key.Groups["key"].Value;
            var value = key.Groups["value"].Value.Trim();

            var comment = new List<string>();
            for (var j = i - 1; j >= 0 && lines[j].TrimStart().StartsWith('#'); j--) comment.Insert(0, lines[j].Trim());
            var documented = comment.Select(c => DefaultNote().Match(c)).LastOrDefault(m => m.Success);
            if (comment.Count == 0)
                problems.Add($"line {i + 1} '{name}': no comment directly above it");
            else if (documented is null)
                problems.Add($"line {i + 1} '{name}': its comment does not say 'Default: …'");
            else if (!documented.Groups["value"].Value.Trim().StartsWith(value, StringComparison.Ordinal))
                problems.Add($"line {i + 1} '{name}': value {value} but the comment says 'Default: {documented.Groups["value"].Value.Trim()}'");
        }

        Assert.True(keys >= 40, $"only {keys} keys found in {ConfFile}: is the key pattern still right?");
        Assert.True(problems.Count == 0, "undocumented settings in hocon/hive.conf:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void A_config_file_overrides_the_defaults_the_environment_overrides_the_file_and_flags_override_everything()
    {
        var file = WriteConfig("""
            hive.node.guides = 6
            hive.rabbitmq.task-queue = "from-file"
            hive.rabbitmq.uri = "amqp://file:5672/"
            hive.redis.configuration = "file:6379"
            hive.tasks.retry-backoff = 250ms
            """);
        var env = Env(("HIVE_GUIDES", "7"), ("HIVE_REDIS", "env:6379"), ("HIVE_NAME", "from-env"), ("UNRELATED", "x"));

        var fileOnly = HiveSettings.FromConfig(new NodeOverrides(ConfigFile: file).Build(Env()));
        Assert.Equal(6, fileOnly.Guides);
        Assert.Equal("from-file", fileOnly.TaskQueue);
        Assert.Equal("file:6379", fileOnly.RedisConfiguration);
        Assert.Equal(TimeSpan.FromMilliseconds(250), fileOnly.RetryBackoff);
        Assert.Equal("hive.results", fileOnly.ResultsExchange);

        var withEnv = HiveSettings.FromConfig(new NodeOverrides(ConfigFile: file).Build(env));
        Assert.Equal(7, withEnv.Guides);
        Assert.Equal("env:6379", withEnv.RedisConfiguration);
        Assert.Equal("from-env", withEnv.NodeName);
        Assert.Equal("from-file", withEnv.TaskQueue);
        Assert.Equal("amqp://file:5672/", withEnv.RabbitUri);

        var withFlags = HiveSettings.FromConfig(new NodeOverrides(ConfigFile: file, Guides: 8, Redis: "flag:6379", RabbitMq: "amqp://flag:5672/", HttpPort: 0).Build(env));
        Assert.Equal(8, withFlags.Guides);
        Assert.Equal("flag:6379", withFlags.RedisConfiguration);
        Assert.Equal("amqp://flag:5672/", withFlags.RabbitUri);
        Assert.Equal(0, withFlags.HttpPort);
        Assert.Equal("from-env", withFlags.NodeName);
        Assert.Equal("from-file", withFlags.TaskQueue);
        Assert.Equal(TimeSpan.FromMilliseconds(250), withFlags.RetryBackoff);
    }

    [Fact]
    public void Every_documented_environment_variable_reaches_its_setting()
    {
        var env = Env(
            ("HIVE_RABBITMQ", "amqp://env-rabbit:5672/"), ("HIVE_REDIS", "env-redis:6379"), ("HIVE_GUIDES", "9"),
            ("HIVE_TASKS", "/srv/hive/tasks"), ("HIVE_NAME", "env-node"), ("HIVE_CLUSTER_PORT", "5000"),
            ("HIVE_CLUSTER_HOSTNAME", "10.0.0.7"), ("HIVE_SEEDS", "10.0.0.1:5000, 10.0.0.2:5000"), ("HIVE_HTTP_PORT", "9090"),
            ("HIVE_CALLBACK_SECRET", "hmac \"key\""), ("HIVE_ALLOW_COMMANDS", "on"), ("HIVE_TASK_QUEUE", "hive.mission"));

        var settings = HiveSettings.FromConfig(new NodeOverrides().Build(env));

        Assert.Equal("amqp://env-rabbit:5672/", settings.RabbitUri);
        Assert.Equal("env-redis:6379", settings.RedisConfiguration);
        Assert.Equal(9, settings.Guides);
        Assert.Equal("/srv/hive/tasks", settings.TasksDir);
        Assert.Equal("env-node", settings.NodeName);
        Assert.Equal(5000, settings.ClusterPort);
        Assert.Equal("10.0.0.7", settings.ClusterHostname);
        Assert.Equal(["10.0.0.1:5000", "10.0.0.2:5000"], settings.Seeds);
        Assert.Equal(9090, settings.HttpPort);
        Assert.Equal("hmac \"key\"", settings.CallbackSecret);
        Assert.True(settings.AllowCommands);
        Assert.Equal("hive.mission", settings.TaskQueue);
    }

    [Fact]
    public void A_node_started_without_flags_environment_or_config_file_gets_the_defaults()
    {
        var settings = HiveSettings.FromConfig(new NodeOverrides().Build(Env()));

        Assert.Equal(HiveSettings.FromConfig(ConfigurationFactory.Empty).ToString(), settings.ToString());
        Assert.Equal(4, settings.Guides);
        Assert.Equal("hive.tasks", settings.TaskQueue);
        Assert.Equal(4, HiveSettings.FromConfig(HiveSettings.DefaultConfig).Guides);
    }

    [Fact]
    public void Empty_environment_variables_are_ignored()
    {
        var settings = HiveSettings.FromConfig(new NodeOverrides().Build(Env(("HIVE_GUIDES", ""), ("HIVE_REDIS", ""))));

        Assert.Equal(4, settings.Guides);
        Assert.Equal("localhost:6379", settings.RedisConfiguration);
    }

    [Fact]
    public void Seeds_given_as_host_port_pairs_become_akka_tcp_addresses_of_the_hive_system()
    {
        var settings = HiveSettings.FromConfig(new NodeOverrides(Seeds: "a:1,b:2").Build(Env()));

        Assert.Equal(["a:1", "b:2"], settings.Seeds);
        Assert.Equal(["akka.tcp://hive@a:1", "akka.tcp://hive@b:2"], settings.Seeds.Select(HiveHostingExtensions.SeedAddress));
        Assert.Equal("akka.tcp://other@c:3", HiveHostingExtensions.SeedAddress("akka.tcp://other@c:3"));

        var flagWins = HiveSettings.FromConfig(new NodeOverrides(Seeds: "x:9").Build(Env(("HIVE_SEEDS", "a:1,b:2"))));
        Assert.Equal(["x:9"], flagWins.Seeds);
    }

    [Fact]
    public void A_missing_config_file_fails_with_its_path_in_the_message()
    {
        var missing = Path.Combine(_dir, "nope.conf");

        var ex = Assert.Throws<FileNotFoundException>(() => new NodeOverrides(ConfigFile: missing).Build(Env()));

        Assert.Contains(missing, ex.Message);
    }

    [Fact]
    public void Retry_delays_double_from_the_backoff_and_stop_at_the_cap()
    {
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString("hive.tasks { retry-backoff = 1s, retry-backoff-max = 5s }"));

        Assert.Equal(TimeSpan.FromSeconds(1), settings.RetryDelay(2));
        Assert.Equal(TimeSpan.FromSeconds(2), settings.RetryDelay(3));
        Assert.Equal(TimeSpan.FromSeconds(4), settings.RetryDelay(4));
        Assert.Equal(TimeSpan.FromSeconds(5), settings.RetryDelay(5));
        Assert.Equal(TimeSpan.FromSeconds(5), settings.RetryDelay(50));
    }

    [Fact]
    public void A_manifest_backoff_replaces_the_first_delay_and_may_exceed_the_configured_cap()
    {
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString("hive.tasks { retry-backoff = 1s, retry-backoff-max = 5s }"));

        Assert.Equal(TimeSpan.FromSeconds(2), settings.RetryDelay(2, 2));
        Assert.Equal(TimeSpan.FromSeconds(4), settings.RetryDelay(3, 2));
        Assert.Equal(TimeSpan.FromSeconds(5), settings.RetryDelay(5, 2));
        Assert.Equal(TimeSpan.FromSeconds(30), settings.RetryDelay(2, 30));
        Assert.Equal(TimeSpan.FromSeconds(30), settings.RetryDelay(4, 30));
        Assert.Equal(TimeSpan.Zero, settings.RetryDelay(3, 0));
    }

    [Theory]
    [InlineData("amqp://hive:s3cret@rabbit.local:5672/prod", "amqp://hive:***@rabbit.local:5672/prod")]
    [InlineData("amqps://svc:p%40ss%3Aword@rabbit.local/", "amqps://svc:***@rabbit.local/")]
    [InlineData("amqp://rabbit.local:5672/", "amqp://rabbit.local:5672/")]
    public void Redacting_a_rabbitmq_uri_hides_its_password_and_keeps_the_rest(string uri, string expected)
    {
        var redacted = Redact.Uri(uri);

        Assert.Equal(expected, redacted);
        Assert.DoesNotContain("s3cret", redacted);
        Assert.DoesNotContain("p%40ss", redacted);
    }

    [Theory]
    [InlineData("redis.local:6379,password=s3cret,ssl=true", "redis.local:6379,password=***,ssl=true")]
    [InlineData("redis.local:6379, Password=s3cret", "redis.local:6379,password=***")]
    [InlineData("redis.local:6379,abortConnect=false", "redis.local:6379,abortConnect=false")]
    public void Redacting_a_redis_configuration_hides_its_password_and_keeps_the_rest(string configuration, string expected)
    {
        var redacted = Redact.RedisConfiguration(configuration);

        Assert.Equal(expected, redacted);
        Assert.DoesNotContain("s3cret", redacted);
    }

    [Fact]
    public void Settings_text_never_contains_a_password_or_the_callback_secret()
    {
        var settings = HiveSettings.FromConfig(new NodeOverrides(RabbitMq: "amqp://hive:rabbit-pw@rabbit.local:5672/", Redis: "redis.local:6379,password=redis-pw")
            .Build(Env(("HIVE_CALLBACK_SECRET", "hmac-secret"))));

        var text = settings.ToString();

        Assert.DoesNotContain("rabbit-pw", text);
        Assert.DoesNotContain("redis-pw", text);
        Assert.DoesNotContain("hmac-secret", text);
        Assert.Contains("rabbit.local", text);
        Assert.Contains("redis.local:6379", text);
    }

    [GeneratedRegex(@"^\s*(?<key>[A-Za-z0-9-]+)\s*=\s*(?<value>.*)$")]
    private static partial Regex KeyLine();

    [GeneratedRegex(@"Default: (?<value>.*)$")]
    private static partial Regex DefaultNote();
}
