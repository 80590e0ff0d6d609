using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Journal;
using StackExchange.Redis;

namespace Hive.Persistence.Redis.Journal;

/// <summary>
/// Akka.Persistence journal over StackExchange.Redis. Per persistence id: a sorted set of events
/// (score = sequence number), a monotonic highest-sequence-number key and a deleted-to marker,
/// all under the id's hash tag (see <see cref="RedisKeys"/>).
/// Payloads are serialized before anything is sent: a payload that cannot be serialized rejects its
/// <see cref="AtomicWrite"/> only; a Redis failure fails the whole write (the actors get persist failures).
/// </summary>
public sealed class RedisJournal : AsyncWriteJournal
{
    // KEYS[1] events, KEYS[2] highest. ARGV[1] highest sequence number of the batch, then (sequenceNr, record) pairs.
    // One call per persistence id and batch: all events land or none do, and "highest" only ever grows.
    private const string WriteScript = """
        local events = KEYS[1]
        for i = 2, #ARGV, 2 do
          redis.call('ZREMRANGEBYSCORE', events, ARGV[i], ARGV[i])
          redis.call('ZADD', events, ARGV[i], ARGV[i + 1])
        end
        local highest = tonumber(redis.call('GET', KEYS[2]) or '0')
        if tonumber(ARGV[1]) > highest then
          redis.call('SET', KEYS[2], ARGV[1])
        end
        return #ARGV
        """;

    // KEYS[1] events, KEYS[2] deleted-to, KEYS[3] highest. ARGV[1] to sequence number, ARGV[2] '1' = physical.
    // The marker is capped at the highest sequence number so that later events stay visible.
    private const string DeleteScript = """
        local to = tonumber(ARGV[1])
        local highest = tonumber(redis.call('GET', KEYS[3]) or '0')
        if to > highest then to = highest end
        local current = tonumber(redis.call('GET', KEYS[2]) or '0')
        if to > current then
          redis.call('SET', KEYS[2], string.format('%.0f', to))
        end
        if ARGV[2] == '1' then
          redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', to))
        end
        return 1
        """;

    private readonly RedisJournalSettings _settings;
    private readonly PayloadSerialization _serialization;
    private readonly RedisDatabaseLease _database;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public RedisJournal(Config config)
    {
        _settings = RedisJournalSettings.Create(config);
        _serialization = new PayloadSerialization(Context.System, _settings.DefaultSerializer);
        _database = new RedisDatabaseLease(RedisConnections.Get(Context.System), _settings.Connection);
    }

    protected override void PreStart()
    {
        base.PreStart();
        _log.Info("Redis journal started with key prefix {0}, {1}", _settings.KeyPrefix, _settings.Connection);
        // Start connecting now; requests wait on the same task instead of being stashed.
        _ = _database.GetAsync();
    }

    protected override void PostStop()
    {
        _database.Release();

        base.PostStop();
    }

    protected override async Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages as IReadOnlyList<AtomicWrite> ?? messages.ToArray();
        Exception?[]? rejections = null;
        var batches = new Dictionary<string, Batch>(StringComparer.Ordinal);

        // 1. Serialize everything first. A failure here rejects that AtomicWrite only; nothing of it is stored.
        for (var i = 0; i < writes.Count; i++)
        {
            var write = writes[i];
            byte[][] records;
            try
            {
                records = Serialize((IImmutableList<IPersistentRepresentation>)write.Payload);
            }
            catch (Exception e)
            {
                (rejections ??= new Exception?[writes.Count])[i] = e;
                continue;
            }

            if (!batches.TryGetValue(write.PersistenceId, out var batch))
                batches[write.PersistenceId] = batch = new Batch();
            var payload = (IImmutableList<IPersistentRepresentation>)write.Payload;
            for (var j = 0; j < records.Length; j++)
                batch.Add(payload[j].SequenceNr, records[j]);
        }

        // 2. One script call per persistence id. Redis failures propagate: the whole write fails.
        if (batches.Count > 0)
        {
            var started = Stopwatch.GetTimestamp();
            var database = await _database.GetAsync().WaitAsync(cancellationToken);
            var calls = new Task[batches.Count];
            var n = 0;
            foreach (var (persistenceId, batch) in batches)
            {
                calls[n++] = database.ScriptEvaluateAsync(
                    WriteScript,
                    [RedisKeys.Events(_settings.KeyPrefix, persistenceId), RedisKeys.Highest(_settings.KeyPrefix, persistenceId)],
                    batch.ToArguments());
            }

            await Task.WhenAll(calls).WaitAsync(cancellationToken);
            RedisJournalMetrics.WriteDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }

        return rejections?.ToImmutableList()!;
    }

    public override async Task ReplayMessagesAsync(
        IActorContext context,
        string persistenceId,
        long fromSequenceNr,
        long toSequenceNr,
        long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0 || toSequenceNr < fromSequenceNr) return;

        var database = await _database.GetAsync();
        var deletedTo = (long?)await database.StringGetAsync(RedisKeys.DeletedTo(_settings.KeyPrefix, persistenceId)) ?? 0L;
        var events = RedisKeys.Events(_settings.KeyPrefix, persistenceId);
        var from = Math.Max(fromSequenceNr, deletedTo + 1);
        var remaining = max;
        while (remaining > 0 && from <= toSequenceNr)
        {
            var take = (int)Math.Min(_settings.ReplayPageSize, remaining);
            // Paged: never more than one page of events in memory.
            var page = await database.SortedSetRangeByScoreAsync(events, from, toSequenceNr, Exclude.None, Order.Ascending, 0, take);
            foreach (var value in page)
            {
                var record = EventRecord.FromBytes((byte[])value!);
                if (record.SequenceNr < from) continue; // an overwritten duplicate cannot exist, but never replay backwards
                var payload = _serialization.Deserialize(record.Payload);
                recoveryCallback(new Persistent(
                    payload,
                    record.SequenceNr,
                    persistenceId,
                    record.EventManifest,
                    isDeleted: false,
                    ActorRefs.NoSender,
                    record.WriterGuid.Length == 0 ? null : record.WriterGuid,
                    record.Timestamp));
                from = record.SequenceNr + 1;
                if (--remaining == 0) break;
            }

            if (page.Length < take) break;
        }
    }

    public override async Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        var database = await _database.GetAsync().WaitAsync(cancellationToken);
        var highest = await database.StringGetAsync(RedisKeys.Highest(_settings.KeyPrefix, persistenceId)).WaitAsync(cancellationToken);
        return (long?)highest ?? 0L;
    }

    protected override async Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken)
    {
        var database = await _database.GetAsync().WaitAsync(cancellationToken);
        await database.ScriptEvaluateAsync(
            DeleteScript,
            [
                RedisKeys.Events(_settings.KeyPrefix, persistenceId),
                RedisKeys.DeletedTo(_settings.KeyPrefix, persistenceId),
                RedisKeys.Highest(_settings.KeyPrefix, persistenceId),
            ],
            [toSequenceNr, _settings.PhysicalDeletes ? "1" : "0"]).WaitAsync(cancellationToken);
    }

    public override async Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            var database = await _database.GetAsync().WaitAsync(cancellationToken);
            var latency = await database.PingAsync().WaitAsync(cancellationToken);
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Healthy, $"Redis journal answered PING in {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Unhealthy, "Redis journal cannot reach Redis", e);
        }
    }

    private byte[][] Serialize(IImmutableList<IPersistentRepresentation> events)
    {
        var records = new byte[events.Count][];
        for (var i = 0; i < events.Count; i++)
        {
            var persistent = events[i];
            var (payload, tags) = persistent.Payload is Tagged tagged
                ? (tagged.Payload, (IReadOnlyList<string>)tagged.Tags.ToArray())
                : (persistent.Payload, Array.Empty<string>());
            var timestamp = persistent.Timestamp == 0 ? DateTime.UtcNow.Ticks : persistent.Timestamp;
            records[i] = new EventRecord(
                persistent.SequenceNr,
                timestamp,
                persistent.Manifest ?? "",
                persistent.WriterGuid ?? "",
                tags,
                _serialization.Serialize(payload)).ToBytes();
        }

        return records;
    }


    /// <summary>The events of one persistence id within one WriteMessages call.</summary>
    private sealed class Batch
    {
        private readonly List<RedisValue> _pairs = new(4);
        private long _highest;

        public void Add(long sequenceNr, byte[] record)
        {
            _pairs.Add(sequenceNr);
            _pairs.Add(record);
            _highest = Math.Max(_highest, sequenceNr);
        }

        public RedisValue[] ToArguments()
        {
            var arguments = new RedisValue[_pairs.Count + 1];
            arguments[0] = _highest;
            _pairs.CopyTo(arguments, 1);
            return arguments;
        }
    }
}
