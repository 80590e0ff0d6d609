using Akka.Configuration;

namespace Hive.Persistence.Redis;

/// <summary>Entry points to the plugin's embedded defaults.</summary>
public static class RedisPersistence
{
    /// <summary>HOCON path of the journal plugin with the default identifier.</summary>
    public const string JournalConfigPath = "akka.persistence.journal.redis";

    /// <summary>HOCON path of the snapshot store plugin with the default identifier.</summary>
    public const string SnapshotStoreConfigPath = "akka.persistence.snapshot-store.redis";

    private static readonly Lazy<Config> Defaults = new(() =>
        ConfigurationFactory.FromResource<RedisConnectionSettings>("Hive.Persistence.Redis.reference.conf"));

    /// <summary>The embedded, commented <c>reference.conf</c>.</summary>
    public static Config DefaultConfig() => Defaults.Value;

    /// <summary>The defaults of one journal block (identifier-independent).</summary>
    public static Config DefaultJournalConfig() => DefaultConfig().GetConfig(JournalConfigPath);

    /// <summary>The defaults of one snapshot-store block (identifier-independent).</summary>
    public static Config DefaultSnapshotStoreConfig() => DefaultConfig().GetConfig(SnapshotStoreConfigPath);
}
