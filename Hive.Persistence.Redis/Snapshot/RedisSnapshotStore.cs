using System.Globalization;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using StackExchange.Redis;

namespace Hive.Persistence.Redis.Snapshot;

/// <summary>
/// Akka.Persistence snapshot store over StackExchange.Redis. Per persistence id: a sorted set of
/// snapshot metadata (score = sequence number, member = "sequenceNr:timestampTicks") and a hash of
/// payloads keyed by sequence number, under the id's hash tag. Loading walks the metadata newest-first
/// a few members at a time and fetches only the chosen payload.
/// </summary>
public sealed class RedisSnapshotStore : SnapshotStore
{
    // KEYS[1] snapshots, KEYS[2] snapshot-data. ARGV[1] sequence number, ARGV[2] member, ARGV[3] record.
    // Saving the same sequence number again replaces the earlier snapshot.
    private const string SaveScript = """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
        return 1
        """;

    private readonly RedisSnapshotSettings _settings;
    private readonly PayloadSerialization _serialization;
    private readonly RedisDatabaseLease _database;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public RedisSnapshotStore(Config config)
    {
        _settings = RedisSnapshotSettings.Create(config);
        _serialization = new PayloadSerialization(Context.System, _settings.DefaultSerializer);
        _database = new RedisDatabaseLease(RedisConnections.Get(Context.System), _settings.Connection);
    }

    protected override void PreStart()
    {
        base.PreStart();
        _log.Info("Redis snapshot store started with key prefix {0}, {1}", _settings.KeyPrefix, _settings.Connection);
        _ = _database.GetAsync();
    }

    protected override void PostStop()
    {
        _database.Release();

        base.PostStop();
    }

    protected override async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        if (criteria.MaxSequenceNr < criteria.MinSequenceNr) return null;

        var database = await _database.GetAsync().WaitAsync(cancellationToken);
        var snapshots = RedisKeys.Snapshots(_settings.KeyPrefix, persistenceId);
        var data = RedisKeys.SnapshotData(_settings.KeyPrefix, persistenceId);
        for (var skip = 0L; ; skip += _settings.LoadPageSize)
        {
            // Newest first, a few metadata members per round trip; payloads stay on the server until chosen.
            var page = await database.SortedSetRangeByScoreAsync(
                snapshots, criteria.MinSequenceNr, criteria.MaxSequenceNr, Exclude.None, Order.Descending, skip, _settings.LoadPageSize)
                .WaitAsync(cancellationToken);

            foreach (var member in page)
            {
                var (sequenceNr, timestamp) = ParseMember(member!);
                if (!Matches(criteria, timestamp)) continue;

                var record = await database.HashGetAsync(data, sequenceNr).WaitAsync(cancellationToken);
                if (record.IsNull) continue; // deleted between the two reads
                var payload = _serialization.Deserialize(SnapshotRecord.FromBytes((byte[])record!));
                return new SelectedSnapshot(new SnapshotMetadata(persistenceId, sequenceNr, timestamp), payload);
            }

            if (page.Length < _settings.LoadPageSize) return null;
        }
    }

    protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken)
    {
        var record = SnapshotRecord.ToBytes(_serialization.Serialize(snapshot));
        var database = await _database.GetAsync().WaitAsync(cancellationToken);
        await database.ScriptEvaluateAsync(
            SaveScript,
            [RedisKeys.Snapshots(_settings.KeyPrefix, metadata.PersistenceId), RedisKeys.SnapshotData(_settings.KeyPrefix, metadata.PersistenceId)],
            [metadata.SequenceNr, FormatMember(metadata.SequenceNr, metadata.Timestamp), record]).WaitAsync(cancellationToken);
    }

    protected override async Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken)
    {
        var database = await _database.GetAsync().WaitAsync(cancellationToken);
        var transaction = database.CreateTransaction();
        _ = transaction.SortedSetRemoveRangeByScoreAsync(RedisKeys.Snapshots(_settings.KeyPrefix, metadata.PersistenceId), metadata.SequenceNr, metadata.SequenceNr);
        _ = transaction.HashDeleteAsync(RedisKeys.SnapshotData(_settings.KeyPrefix, metadata.PersistenceId), metadata.SequenceNr);
        await transaction.ExecuteAsync().WaitAsync(cancellationToken);
    }

    protected override async Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        if (criteria.MaxSequenceNr < criteria.MinSequenceNr) return;

        var database = await _database.GetAsync().WaitAsync(cancellationToken);
        var snapshots = RedisKeys.Snapshots(_settings.KeyPrefix, persistenceId);
        var members = await database.SortedSetRangeByScoreAsync(snapshots, criteria.MinSequenceNr, criteria.MaxSequenceNr)
            .WaitAsync(cancellationToken);
        var doomed = members.Where(m => Matches(criteria, ParseMember(m!).Timestamp)).ToArray();
        if (doomed.Length == 0) return;

        var transaction = database.CreateTransaction();
        _ = transaction.SortedSetRemoveAsync(snapshots, doomed);
        _ = transaction.HashDeleteAsync(
            RedisKeys.SnapshotData(_settings.KeyPrefix, persistenceId),
            doomed.Select(m => (RedisValue)ParseMember(m!).SequenceNr).ToArray());
        await transaction.ExecuteAsync().WaitAsync(cancellationToken);
    }

    public override async Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            var database = await _database.GetAsync().WaitAsync(cancellationToken);
            var latency = await database.PingAsync().WaitAsync(cancellationToken);
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Healthy, $"Redis snapshot store answered PING in {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Unhealthy, "Redis snapshot store cannot reach Redis", e);
        }
    }

    private static bool Matches(SnapshotSelectionCriteria criteria, DateTime timestamp) =>
        timestamp <= criteria.MaxTimeStamp && (criteria.MinTimestamp is null || timestamp >= criteria.MinTimestamp.Value);

    private static string FormatMember(long sequenceNr, DateTime timestamp) =>
        string.Create(CultureInfo.InvariantCulture, $"{sequenceNr}:{timestamp.Ticks}");

    private static (long SequenceNr, DateTime Timestamp) ParseMember(string member)
    {
        var colon = member.IndexOf(':');
        return (long.Parse(member.AsSpan(0, colon), CultureInfo.InvariantCulture),
            new DateTime(long.Parse(member.AsSpan(colon + 1), CultureInfo.InvariantCulture), DateTimeKind.Utc));
    }

}
