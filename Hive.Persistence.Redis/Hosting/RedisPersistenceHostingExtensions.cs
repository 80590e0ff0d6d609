using Akka.Hosting;
using Akka.Persistence.Hosting;
using StackExchange.Redis;

namespace Hive.Persistence.Redis.Hosting;

public static class RedisPersistenceHostingExtensions
{
    /// <summary>
    /// Adds the Redis journal and/or snapshot store to the ActorSystem (by default as the default plugins,
    /// identifier "redis": <c>akka.persistence.journal.redis</c>, <c>akka.persistence.snapshot-store.redis</c>).
    /// </summary>
    /// <param name="configurationString">StackExchange.Redis configuration string, e.g. "localhost:6379".</param>
    /// <param name="keyPrefix">Prefix of every key; one per application. Null = "akka:persistence".</param>
    /// <param name="multiplexer">An application-owned multiplexer to use instead of opening one; never closed by the plugin.</param>
    /// <param name="mode">Journal, snapshot store, or both.</param>
    /// <param name="journalBuilder">Event adapters for the journal.</param>
    /// <param name="pluginIdentifier">Plugin identifier (HOCON key under akka.persistence.journal / snapshot-store).</param>
    /// <param name="isDefaultPlugin">Make these the ActorSystem's default plugins.</param>
    public static AkkaConfigurationBuilder WithRedisPersistence(
        this AkkaConfigurationBuilder builder,
        string configurationString,
        string? keyPrefix = null,
        IConnectionMultiplexer? multiplexer = null,
        PersistenceMode mode = PersistenceMode.Both,
        Action<AkkaPersistenceJournalBuilder>? journalBuilder = null,
        string pluginIdentifier = "redis",
        bool isDefaultPlugin = true)
    {
        ArgumentNullException.ThrowIfNull(configurationString);
        var journal = mode is PersistenceMode.Both or PersistenceMode.Journal
            ? new RedisJournalOptions(isDefaultPlugin, pluginIdentifier) { ConfigurationString = configurationString, KeyPrefix = keyPrefix }
            : null;
        var snapshot = mode is PersistenceMode.Both or PersistenceMode.SnapshotStore
            ? new RedisSnapshotOptions(isDefaultPlugin, pluginIdentifier) { ConfigurationString = configurationString, KeyPrefix = keyPrefix }
            : null;
        return builder.WithRedisPersistence(journal, snapshot, multiplexer, journalBuilder);
    }

    /// <summary>Adds the Redis journal and/or snapshot store from typed options (at least one of them).</summary>
    public static AkkaConfigurationBuilder WithRedisPersistence(
        this AkkaConfigurationBuilder builder,
        RedisJournalOptions? journalOptions,
        RedisSnapshotOptions? snapshotOptions,
        IConnectionMultiplexer? multiplexer = null,
        Action<AkkaPersistenceJournalBuilder>? journalBuilder = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (multiplexer is not null) builder.AddSetup(new RedisPersistenceSetup(multiplexer));

        _ = (journalOptions, snapshotOptions) switch
        {
            (null, null) => throw new ArgumentException($"Pass {nameof(journalOptions)}, {nameof(snapshotOptions)} or both."),
            (not null, null) => builder.WithJournal(journalOptions, journalBuilder),
            (null, not null) => builder.WithSnapshot(snapshotOptions),
            _ => builder.WithJournalAndSnapshot(journalOptions, snapshotOptions, journalBuilder, null),
        };

        // Defaults go last (fallback), the options above take precedence.
        return builder.AddHocon(RedisPersistence.DefaultConfig(), HoconAddMode.Append);
    }
}
