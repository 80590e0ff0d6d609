using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Serialization;
using Hive.Persistence.Redis;
using Hive.Tests.Infrastructure;
using StackExchange.Redis;

namespace Hive.Tests.Persistence;

/// <summary>HOCON and helpers shared by the Redis persistence specs.</summary>
internal static class PersistenceHocon
{
    /// <summary>
    /// The "one HOCON block" set-up of a plain Akka.NET app: plugin ids, class and connection only;
    /// everything else falls back to the plugin's embedded defaults.
    /// </summary>
    public static Config For(RedisServer redis, string keyPrefix, string journalExtra = "", string snapshotExtra = "") =>
        ConfigurationFactory.ParseString($$"""
            akka.loglevel = INFO
            akka.persistence.publish-plugin-commands = on
            akka.persistence.journal.plugin = "akka.persistence.journal.redis"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.redis"
            akka.persistence.journal.redis {
              class = "Hive.Persistence.Redis.Journal.RedisJournal, Hive.Persistence.Redis"
              configuration-string = "{{redis.ConnectionString}}"
              key-prefix = "{{keyPrefix}}"
              {{journalExtra}}
            }
            akka.persistence.snapshot-store.redis {
              class = "Hive.Persistence.Redis.Snapshot.RedisSnapshotStore, Hive.Persistence.Redis"
              configuration-string = "{{redis.ConnectionString}}"
              key-prefix = "{{keyPrefix}}"
              {{snapshotExtra}}
            }
            akka.actor {
              serializers {
                failing = "{{typeof(FailingSerializer).AssemblyQualifiedName}}"
                custom = "{{typeof(CustomEventSerializer).AssemblyQualifiedName}}"
              }
              serialization-bindings {
                "{{typeof(Unserializable).AssemblyQualifiedName}}" = failing
                "{{typeof(CustomEvent).AssemblyQualifiedName}}" = custom
              }
            }
            """).WithFallback(RedisPersistence.DefaultConfig());

    public static string NewPid(string kind) => $"{kind}-{Guid.NewGuid():N}";
}

/// <summary>An event no serializer can write (its serializer always throws).</summary>
public sealed record Unserializable(string Reason);

/// <summary>An event written by a custom string-manifest serializer, to prove any registered serializer is used.</summary>
public sealed record CustomEvent(string Text);

public sealed class FailingSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public override int Identifier => 9_901;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) => throw new InvalidOperationException($"{obj.GetType().Name} is deliberately not serializable");

    public override object FromBinary(byte[] bytes, Type? type) => throw new InvalidOperationException("never written");
}

public sealed class CustomEventSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 9_902;
    public const string EventManifest = "ce1";

    public override int Identifier => Id;

    public override string Manifest(object o) => o is CustomEvent ? EventManifest : throw new ArgumentException($"unexpected {o.GetType()}");

    public override byte[] ToBinary(object obj) => System.Text.Encoding.UTF8.GetBytes(((CustomEvent)obj).Text);

    public override object FromBinary(byte[] bytes, string manifest) => manifest == EventManifest
        ? new CustomEvent(System.Text.Encoding.UTF8.GetString(bytes))
        : throw new System.Runtime.Serialization.SerializationException($"unknown manifest {manifest}");
}

/// <summary>A persistent counter used by the actor-level specs; reports persistence outcomes to a probe.</summary>
public sealed class CounterActor : ReceivePersistentActor
{
    public sealed record Add(int Amount);
    public sealed record AddMany(int[] Amounts);
    public sealed record PersistRaw(object Event);
    public sealed record DeleteEventsTo(long SequenceNr);
    public sealed record Added(int Amount);
    public sealed record Snapshot(int Total);
    public sealed record State(int Total, long LastSequenceNr, long? RecoveredSnapshotAt, int ReplayedEvents);
    public sealed record Persisted(long SequenceNr);
    public sealed record Rejected(long SequenceNr, string Cause);
    public sealed record PersistFailed(long SequenceNr, Exception Cause);
    public sealed class GetState { public static readonly GetState Instance = new(); private GetState() { } }
    public sealed class TakeSnapshot { public static readonly TakeSnapshot Instance = new(); private TakeSnapshot() { } }

    private readonly IActorRef _reporter;
    private int _total;
    private long? _recoveredSnapshotAt;
    private int _replayed;

    public CounterActor(string persistenceId, IActorRef reporter)
    {
        PersistenceId = persistenceId;
        _reporter = reporter;

        Recover<SnapshotOffer>(offer =>
        {
            _total = ((Snapshot)offer.Snapshot).Total;
            _recoveredSnapshotAt = offer.Metadata.SequenceNr;
        });
        Recover<Added>(e =>
        {
            _total += e.Amount;
            _replayed++;
        });

        Command<Add>(c =>
        {
            var sender = Sender;
            Persist(new Added(c.Amount), e =>
            {
                _total += e.Amount;
                sender.Tell(new Persisted(LastSequenceNr));
            });
        });
        Command<AddMany>(c =>
        {
            var sender = Sender;
            PersistAll(c.Amounts.Select(a => new Added(a)), e =>
            {
                _total += e.Amount;
                sender.Tell(new Persisted(LastSequenceNr));
            });
        });
        Command<PersistRaw>(c =>
        {
            var sender = Sender;
            Persist(c.Event, _ => sender.Tell(new Persisted(LastSequenceNr)));
        });
        Command<TakeSnapshot>(_ => SaveSnapshot(new Snapshot(_total)));
        Command<DeleteEventsTo>(c => DeleteMessages(c.SequenceNr));
        Command<SaveSnapshotSuccess>(s => _reporter.Tell(s));
        Command<SaveSnapshotFailure>(s => _reporter.Tell(s));
        Command<DeleteMessagesSuccess>(s => _reporter.Tell(s));
        Command<DeleteMessagesFailure>(s => _reporter.Tell(s));
        Command<GetState>(_ => Sender.Tell(new State(_total, LastSequenceNr, _recoveredSnapshotAt, _replayed)));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId, IActorRef reporter) =>
        Akka.Actor.Props.Create(() => new CounterActor(persistenceId, reporter));

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _reporter.Tell(new Rejected(sequenceNr, cause.Message));
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _reporter.Tell(new PersistFailed(sequenceNr, cause));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}

/// <summary>Direct access to the test redis-server to check what the plugin stored.</summary>
internal static class RedisInspection
{
    public static async Task<T> WithDatabaseAsync<T>(RedisServer redis, Func<IDatabase, Task<T>> action)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        return await action(connection.GetDatabase());
    }
}
