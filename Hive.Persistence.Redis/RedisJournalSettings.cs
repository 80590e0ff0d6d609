using Akka.Configuration;

namespace Hive.Persistence.Redis;

/// <summary>Settings of one Redis journal plugin block. Immutable.</summary>
public sealed record RedisJournalSettings
{
    private RedisJournalSettings(RedisConnectionSettings connection, string keyPrefix)
    {
        Connection = connection;
        KeyPrefix = RedisKeys.ValidatePrefix(keyPrefix);
    }

    public RedisConnectionSettings Connection { get; init; }

    public string KeyPrefix { get; }

    /// <summary>Events fetched per round trip during replay.</summary>
    public int ReplayPageSize { get; init; } = 500;

    /// <summary>Whether DeleteMessagesTo removes events (on) or only hides them from replay (off).</summary>
    public bool PhysicalDeletes { get; init; } = true;

    /// <summary>Serializer for payload types without a binding; null = Akka's default.</summary>
    public string? DefaultSerializer { get; init; }

    public static RedisJournalSettings Create(RedisConnectionSettings connection, string keyPrefix = "akka:persistence") =>
        new(connection, keyPrefix);

    /// <summary>Reads a journal block; keys it lacks take the embedded defaults.</summary>
    public static RedisJournalSettings Create(Config journalConfig)
    {
        ArgumentNullException.ThrowIfNull(journalConfig);
        var config = journalConfig.WithFallback(RedisPersistence.DefaultJournalConfig());
        var pageSize = config.GetInt("replay-page-size", 500);
        if (pageSize < 1) throw new ConfigurationException($"replay-page-size must be at least 1, was {pageSize}");
        return new RedisJournalSettings(RedisConnectionSettings.Create(config), config.GetString("key-prefix", "akka:persistence"))
        {
            ReplayPageSize = pageSize,
            PhysicalDeletes = config.GetBoolean("physical-deletes", true),
            DefaultSerializer = config.GetString("serializer", null) is { Length: > 0 } s ? s : null,
        };
    }
}
