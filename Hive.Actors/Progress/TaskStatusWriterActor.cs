using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Actors.Hosting;
using StackExchange.Redis;

namespace Hive.Actors.Progress;

/// <summary>
/// Writes task status documents to Redis, coalesced: whatever arrives for a task within one
/// progress interval becomes a single SET of its newest document, so a script printing a million
/// lines costs Redis a handful of writes per second. Events (state changes) go to the capped
/// <c>hive:events</c> stream. At most one batch is in flight; updates keep coalescing meanwhile.
/// </summary>
public sealed class TaskStatusWriterActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IConnectionMultiplexer _redis;
    private readonly HiveSettings _settings;
    private Dictionary<string, StatusUpdate> _dirty = new();
    private List<StatusUpdate> _events = new();
    private bool _flushing;

    public TaskStatusWriterActor(IConnectionMultiplexer redis, HiveSettings settings)
    {
        _redis = redis;
        _settings = settings;
        Receive<StatusUpdate>(update =>
        {
            _dirty[update.Document.TaskId] = update;
            if (update.Event is not null) _events.Add(update);
        });
        Receive<Flush>(_ => FlushIfIdle());
        Receive<FlushDone>(done =>
        {
            _flushing = false;
            if (done.Error is not null)
            {
                _log.Warning("Status write to Redis failed ({Count} tasks), keeping them for the next flush: {Error}", done.Batch.Count, done.Error.GetBaseException().Message);
                foreach (var (id, update) in done.Batch) _dirty.TryAdd(id, update);
                _events.InsertRange(0, done.Events);
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IConnectionMultiplexer redis, HiveSettings settings) =>
        ActorFactory.Props(() => new TaskStatusWriterActor(redis, settings));

    protected override void PreStart() =>
        Timers.StartPeriodicTimer("flush", Flush.Instance, _settings.ProgressInterval);

    private void FlushIfIdle()
    {
        if (_flushing || (_dirty.Count == 0 && _events.Count == 0)) return;
        var batch = _dirty;
        var events = _events;
        _dirty = new Dictionary<string, StatusUpdate>();
        _events = new List<StatusUpdate>();
        _flushing = true;
        WriteAsync(batch, events).PipeTo(Self, success: () => new FlushDone(batch, events, null), failure: e => new FlushDone(batch, events, e));
    }

    private async Task WriteAsync(Dictionary<string, StatusUpdate> batch, List<StatusUpdate> events)
    {
        var db = _redis.GetDatabase();
        var writes = new List<Task>(batch.Count + events.Count);
        foreach (var (id, update) in batch)
        {
            var doc = update.Document;
            var ttl = doc.State.IsFinal() ? _settings.TaskTtl : _settings.TaskTtl * 2;
            writes.Add(db.StringSetAsync(RedisKeys.Task(id), TaskStatusJson.ToJson(doc), ttl));
            if (_settings.SeedCompat)
                writes.Add(db.StringSetAsync(RedisKeys.SeedProgress(id), SeedRedisShapes.Progress(doc), ttl));
        }
        foreach (var e in events)
        {
            var doc = e.Document;
            writes.Add(db.StreamAddAsync(RedisKeys.Events, EventFields(e.Event!, doc), maxLength: _settings.EventsMaxLength, useApproximateMaxLength: true));
        }
        await Task.WhenAll(writes);
    }

    /// <summary>One entry of <c>hive:events</c>: event, taskId, state, node, attempt, reason.</summary>
    public static NameValueEntry[] EventFields(string @event, TaskStatusDocument doc) =>
    [
        new("event", @event), new("taskId", doc.TaskId), new("state", doc.State.ToWire()),
        new("node", doc.Node ?? ""), new("attempt", doc.Attempt), new("reason", doc.Reason ?? ""),
    ];

    private sealed record FlushDone(Dictionary<string, StatusUpdate> Batch, List<StatusUpdate> Events, Exception? Error);

    private sealed class Flush : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Flush Instance = new();
        private Flush() { }
    }
}

/// <summary>Registry key for the node's status writer.</summary>
public sealed class TaskStatusWriter;
