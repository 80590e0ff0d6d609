using Akka.Configuration;
using StackExchange.Redis;

namespace Hive.Persistence.Redis;

/// <summary>
/// The key layout. Every key of one persistence id carries the id as its hash tag
/// (<c>&lt;prefix&gt;:{&lt;persistenceId&gt;}:...</c>), so all of them live in one Redis Cluster slot
/// and one Lua script / transaction may touch them together.
/// </summary>
public static class RedisKeys
{
    /// <summary>Sorted set: score = sequence number, member = serialized event record.</summary>
    public static RedisKey Events(string prefix, string persistenceId) => Key(prefix, persistenceId, "events");

    /// <summary>String: the highest sequence number ever written (never decreases, survives deletes).</summary>
    public static RedisKey Highest(string prefix, string persistenceId) => Key(prefix, persistenceId, "highest");

    /// <summary>String: events up to this sequence number are deleted (never decreases).</summary>
    public static RedisKey DeletedTo(string prefix, string persistenceId) => Key(prefix, persistenceId, "deleted");

    /// <summary>Sorted set: score = sequence number, member = "&lt;sequenceNr&gt;:&lt;timestamp ticks&gt;".</summary>
    public static RedisKey Snapshots(string prefix, string persistenceId) => Key(prefix, persistenceId, "snapshots");

    /// <summary>Hash: field = sequence number, value = serialized snapshot record.</summary>
    public static RedisKey SnapshotData(string prefix, string persistenceId) => Key(prefix, persistenceId, "snapshot-data");

    internal static string ValidatePrefix(string? prefix)
    {
        if (string.IsNullOrWhiteSpace(prefix))
            throw new ConfigurationException("key-prefix must not be empty");
        if (prefix.IndexOfAny(['{', '}']) >= 0)
            throw new ConfigurationException($"key-prefix must not contain '{{' or '}}' (they would break the per-persistence-id hash tag), was '{prefix}'");
        return prefix;
    }

    private static RedisKey Key(string prefix, string persistenceId, string suffix)
    {
        ArgumentException.ThrowIfNullOrEmpty(persistenceId);
        return $"{prefix}:{{{persistenceId}}}:{suffix}";
    }
}
