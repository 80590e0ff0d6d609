using Akka.Configuration;
using Hive.Persistence.Redis;
using Hive.Persistence.Redis.Hosting;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>HOCON and typed options turn into the expected plugin settings.</summary>
public sealed class RedisPersistenceSettingsSpecs
{
    [Fact]
    public void A_journal_block_with_only_a_class_and_a_connection_string_gets_the_documented_defaults()
    {
        var settings = RedisJournalSettings.Create(ConfigurationFactory.ParseString("""configuration-string = "localhost:6379" """));

        Assert.Equal("akka:persistence", settings.KeyPrefix);
        Assert.Equal(500, settings.ReplayPageSize);
        Assert.True(settings.PhysicalDeletes);
        Assert.Null(settings.DefaultSerializer);
        var options = settings.Connection.ToConfigurationOptions();
        Assert.False(options.AbortOnConnectFail);
        Assert.Equal(5000, options.AsyncTimeout);
        Assert.Equal(0, settings.Connection.EffectiveDatabase);
    }

    [Fact]
    public void Explicit_endpoints_password_database_and_tls_override_the_configuration_string()
    {
        var settings = RedisSnapshotSettings.Create(ConfigurationFactory.ParseString("""
            configuration-string = "old:6379,defaultDatabase=3"
            endpoints = ["redis-a:6380", "redis-b:6381"]
            user = "hive"
            password = "s3cret"
            database = 4
            ssl = on
            ssl-host = "redis.example"
            operation-timeout = 1500ms
            key-prefix = "app1"
            load-page-size = 4
            """));

        var options = settings.Connection.ToConfigurationOptions();
        Assert.Equal(["redis-a:6380", "redis-b:6381"], options.EndPoints.Select(e => e.ToString()!.Replace("Unspecified/", "")));
        Assert.Equal("hive", options.User);
        Assert.Equal("s3cret", options.Password);
        Assert.True(options.Ssl);
        Assert.Equal("redis.example", options.SslHost);
        Assert.Equal(1500, options.AsyncTimeout);
        Assert.Equal(4, settings.Connection.EffectiveDatabase);
        Assert.Equal("app1", settings.KeyPrefix);
        Assert.Equal(4, settings.LoadPageSize);
    }

    [Fact]
    public void The_database_of_the_configuration_string_is_used_when_none_is_set()
    {
        var settings = RedisJournalSettings.Create(ConfigurationFactory.ParseString("""configuration-string = "localhost:6379,defaultDatabase=7" """));
        Assert.Equal(7, settings.Connection.EffectiveDatabase);
    }

    [Fact]
    public void Settings_never_show_the_password()
    {
        var connection = RedisConnectionSettings.Create("localhost:6379,password=hunter2").WithPassword("s3cret");
        Assert.DoesNotContain("s3cret", connection.ToString());
        Assert.DoesNotContain("hunter2", connection.ToString());
        Assert.Contains("***", connection.ToString());
    }

    [Fact]
    public void A_key_prefix_with_hash_tag_braces_is_refused_with_a_clear_error()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            RedisJournalSettings.Create(ConfigurationFactory.ParseString("""
                configuration-string = "localhost:6379"
                key-prefix = "app{1}"
                """)));
        Assert.Contains("hash tag", error.Message);
    }

    [Fact]
    public void No_endpoint_at_all_is_refused_with_a_clear_error()
    {
        var settings = RedisJournalSettings.Create(ConfigurationFactory.Empty);
        var error = Assert.Throws<ConfigurationException>(() => settings.Connection.ToConfigurationOptions());
        Assert.Contains("configuration-string", error.Message);
    }

    [Fact]
    public void Journal_options_render_a_journal_block_that_reads_back_into_the_same_settings()
    {
        var options = new RedisJournalOptions(isDefault: true)
        {
            ConfigurationString = "localhost:6379",
            KeyPrefix = "hive",
            Database = 2,
            PhysicalDeletes = false,
            ReplayPageSize = 100,
            OperationTimeout = TimeSpan.FromSeconds(3),
        };
        var config = options.ToConfig();

        Assert.Equal("akka.persistence.journal.redis", config.GetString("akka.persistence.journal.plugin"));
        var settings = RedisJournalSettings.Create(config.GetConfig("akka.persistence.journal.redis"));
        Assert.Equal("hive", settings.KeyPrefix);
        Assert.Equal(2, settings.Connection.EffectiveDatabase);
        Assert.False(settings.PhysicalDeletes);
        Assert.Equal(100, settings.ReplayPageSize);
        Assert.Equal(TimeSpan.FromSeconds(3), settings.Connection.OperationTimeout);
    }

    [Fact]
    public void Snapshot_options_with_another_identifier_render_their_own_block_and_are_not_the_default()
    {
        var config = new RedisSnapshotOptions(isDefault: false, identifier: "redis-archive") { ConfigurationString = "localhost:6379", KeyPrefix = "archive" }
            .ToConfig()
            .WithFallback(RedisPersistence.DefaultConfig());

        Assert.False(config.HasPath("akka.persistence.snapshot-store.plugin"));
        var settings = RedisSnapshotSettings.Create(config.GetConfig("akka.persistence.snapshot-store.redis-archive"));
        Assert.Equal("archive", settings.KeyPrefix);
    }

    [Fact]
    public void The_embedded_reference_configuration_names_both_plugin_classes()
    {
        var config = RedisPersistence.DefaultConfig();
        Assert.Equal("Hive.Persistence.Redis.Journal.RedisJournal, Hive.Persistence.Redis", config.GetString("akka.persistence.journal.redis.class"));
        Assert.Equal("Hive.Persistence.Redis.Snapshot.RedisSnapshotStore, Hive.Persistence.Redis", config.GetString("akka.persistence.snapshot-store.redis.class"));
        Assert.Equal(typeof(Hive.Persistence.Redis.Journal.RedisJournal), Type.GetType(config.GetString("akka.persistence.journal.redis.class")));
    }
}
