using Akka.Configuration;

namespace Hive.Persistence.Redis;

/// <summary>Settings of one Redis snapshot-store plugin block. Immutable.</summary>
public sealed record RedisSnapshotSettings
{
    private RedisSnapshotSettings(RedisConnectionSettings connection, string keyPrefix)
    {
        Connection = connection;
        KeyPrefix = RedisKeys.ValidatePrefix(keyPrefix);
    }

    public RedisConnectionSettings Connection { get; init; }

    public string KeyPrefix { get; }

    /// <summary>Snapshot candidates inspected per round trip when loading.</summary>
    public int LoadPageSize { get; init; } = 16;

    /// <summary>Serializer for snapshot types without a binding; null = Akka's default.</summary>
    public string? DefaultSerializer { get; init; }

    public static RedisSnapshotSettings Create(RedisConnectionSettings connection, string keyPrefix = "akka:persistence") =>
        new(connection, keyPrefix);

    /// <summary>Reads a snapshot-store block; keys it lacks take the embedded defaults.</summary>
    public static RedisSnapshotSettings Create(Config snapshotConfig)
    {
        ArgumentNullException.ThrowIfNull(snapshotConfig);
        var config = snapshotConfig.WithFallback(RedisPersistence.DefaultSnapshotStoreConfig());
        var pageSize = config.GetInt("load-page-size", 16);
        if (pageSize < 1) throw new ConfigurationException($"load-page-size must be at least 1, was {pageSize}");
        return new RedisSnapshotSettings(RedisConnectionSettings.Create(config), config.GetString("key-prefix", "akka:persistence"))
        {
            LoadPageSize = pageSize,
            DefaultSerializer = config.GetString("serializer", null) is { Length: > 0 } s ? s : null,
        };
    }
}
