using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.TestKit;
using Hive.Persistence.Redis;
using Hive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>
/// The cases of Akka.Persistence.TCK's JournalSpec (written out, the TCK package is not served), plus
/// Redis specifics: atomic batches, monotonic highest sequence number, logical deletes, key layout.
/// Each test starts from events 1..5 of a fresh persistence id, written as [1], [2], [3], [4, 5].
/// </summary>
public sealed class RedisJournalSpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>, IAsyncLifetime
{
    private const string Prefix = "journal-spec";
    private const string LogicalJournal = "akka.persistence.journal.redis-logical";
    private readonly RedisServer _redis;
    private readonly string _pid = PersistenceHocon.NewPid("journal");
    private readonly string _writerGuid = Guid.NewGuid().ToString();
    private readonly TestProbe _writer;
    private readonly TestProbe _receiver;

    public RedisJournalSpecs(RedisFixture fixture, ITestOutputHelper output)
        : base(PersistenceHocon.For(fixture.Redis, Prefix).WithFallback($$"""
            {{LogicalJournal}} {
              class = "Hive.Persistence.Redis.Journal.RedisJournal, Hive.Persistence.Redis"
              configuration-string = "{{fixture.Redis.ConnectionString}}"
              key-prefix = "journal-spec-logical"
              physical-deletes = off
            }
            """), "journal-spec", output)
    {
        _redis = fixture.Redis;
        _writer = CreateTestProbe();
        _receiver = CreateTestProbe();
    }

    private IActorRef Journal => Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);

    public async ValueTask InitializeAsync() => await WriteInitialEventsAsync(Journal);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Theory]
    [InlineData(1, long.MaxValue, long.MaxValue, 1, 5)]  // all
    [InlineData(3, long.MaxValue, long.MaxValue, 3, 5)]  // lower bound
    [InlineData(1, 3, long.MaxValue, 1, 3)]              // upper bound
    [InlineData(1, long.MaxValue, 3, 1, 3)]              // count limit
    [InlineData(2, 3, long.MaxValue, 2, 3)]              // lower and upper bound
    [InlineData(2, 5, 2, 2, 3)]                          // lower, upper bound and count limit
    [InlineData(2, 2, long.MaxValue, 2, 2)]              // lower == upper
    [InlineData(2, 4, 1, 2, 2)]                          // count limit of one
    [InlineData(2, 4, 0, 0, -1)]                         // count limit of zero: nothing
    [InlineData(3, 2, long.MaxValue, 0, -1)]             // lower > upper: nothing
    public async Task Replays_the_requested_range_and_reports_the_highest_sequence_number(long from, long to, long max, long firstExpected, long lastExpected)
    {
        Journal.Tell(new ReplayMessages(from, to, max, _pid, _receiver.Ref));
        for (var seq = firstExpected; seq <= lastExpected; seq++) await ExpectReplayedAsync(seq);
        await ExpectRecoverySuccessAsync(5);
    }

    [Fact]
    public async Task Replays_nothing_and_reports_zero_for_a_persistence_id_that_never_wrote()
    {
        Journal.Tell(new ReplayMessages(0, long.MaxValue, long.MaxValue, "never-wrote", _receiver.Ref));
        await ExpectRecoverySuccessAsync(0);
    }

    [Fact]
    public async Task Does_not_replay_events_deleted_by_a_range_deletion()
    {
        var subscriber = CreateTestProbe();
        Sys.EventStream.Subscribe(subscriber.Ref, typeof(DeleteMessagesTo));
        var deleter = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(_pid, 3, deleter.Ref));
        await subscriber.ExpectMsgAsync<DeleteMessagesTo>(m => m.PersistenceId == _pid && m.ToSequenceNr == 3);
        await deleter.ExpectMsgAsync<DeleteMessagesSuccess>(m => m.ToSequenceNr == 3);

        Journal.Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        await ExpectReplayedAsync(4);
        await ExpectReplayedAsync(5);
        await ExpectRecoverySuccessAsync(5);
        await deleter.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(2, await CountStoredEventsAsync(Prefix));
    }

    [Fact]
    public async Task Keeps_the_highest_sequence_number_after_all_events_were_deleted_and_continues_after_it()
    {
        Journal.Tell(new DeleteMessagesTo(_pid, long.MaxValue, _receiver.Ref));
        await _receiver.ExpectMsgAsync<DeleteMessagesSuccess>(m => m.ToSequenceNr == long.MaxValue);

        Journal.Tell(new ReplayMessages(0, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        await ExpectRecoverySuccessAsync(5);
        Assert.Equal(0, await CountStoredEventsAsync(Prefix));

        // The deletion marker is capped at the highest sequence number: later events are visible.
        await WriteAsync(Journal, [Event(6)]);
        Journal.Tell(new ReplayMessages(0, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        await ExpectReplayedAsync(6);
        await ExpectRecoverySuccessAsync(6);
    }

    [Fact]
    public async Task Logical_deletes_hide_events_from_replay_but_keep_them_in_redis()
    {
        var logical = Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(LogicalJournal);
        var pid = PersistenceHocon.NewPid("logical");
        await WriteAsync(logical, [Event(1, pid)], [Event(2, pid)], [Event(3, pid)]);

        logical.Tell(new DeleteMessagesTo(pid, 2, _receiver.Ref));
        await _receiver.ExpectMsgAsync<DeleteMessagesSuccess>();
        logical.Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, pid, _receiver.Ref));
        await ExpectReplayedAsync(3, pid);
        await ExpectRecoverySuccessAsync(3);

        Assert.Equal(3, await CountStoredEventsAsync("journal-spec-logical", pid));
    }

    [Fact]
    public async Task Round_trips_events_holding_actor_refs_with_writer_guid_and_sequence_number()
    {
        var probe = CreateTestProbe();
        var payload = new WithRef(probe.Ref, "hello");
        Journal.Tell(new WriteMessages([new AtomicWrite(new Persistent(payload, 6, _pid, sender: ActorRefs.NoSender, writerGuid: _writerGuid))], _writer.Ref, 1));
        await _writer.ExpectMsgAsync<WriteMessagesSuccessful>();
        await _writer.ExpectMsgAsync<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 6 && Equals(m.Persistent.Payload, payload));

        Journal.Tell(new ReplayMessages(6, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        var replayed = await _receiver.ExpectMsgAsync<ReplayedMessage>();
        Assert.Equal(payload, replayed.Persistent.Payload);
        Assert.Equal(_writerGuid, replayed.Persistent.WriterGuid);
        Assert.Equal(_pid, replayed.Persistent.PersistenceId);
        Assert.Equal(6, replayed.Persistent.SequenceNr);
        Assert.True(replayed.Persistent.Sender is null || replayed.Persistent.Sender.Equals(ActorRefs.NoSender));
        await ExpectRecoverySuccessAsync(6);
    }

    [Fact]
    public async Task Stores_serializer_id_and_manifest_of_any_registered_serializer_with_each_event()
    {
        await WriteAsync(Journal, [Event(6, payload: new CustomEvent("custom"))]);

        var stored = await RedisInspection.WithDatabaseAsync(_redis, db =>
            db.SortedSetRangeByScoreAsync(RedisKeys.Events(Prefix, _pid), 6, 6));
        var record = EventRecord.FromBytes((byte[])stored.Single()!);
        Assert.Equal(CustomEventSerializer.Id, record.Payload.SerializerId);
        Assert.Equal(CustomEventSerializer.EventManifest, record.Payload.Manifest);

        Journal.Tell(new ReplayMessages(6, 6, long.MaxValue, _pid, _receiver.Ref));
        await _receiver.ExpectMsgAsync<ReplayedMessage>(m => Equals(m.Persistent.Payload, new CustomEvent("custom")));
    }

    [Fact]
    public async Task Rejects_only_the_write_whose_event_cannot_be_serialized_and_keeps_working()
    {
        Journal.Tell(new WriteMessages(
            [new AtomicWrite(Event(6, payload: "b-6")), new AtomicWrite(Event(7, payload: new Unserializable("no"))), new AtomicWrite(Event(8, payload: "b-8"))],
            _writer.Ref, 1));
        await _writer.ExpectMsgAsync<WriteMessagesSuccessful>();
        await _writer.ExpectMsgAsync<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 6 && Equals(m.Persistent.Payload, "b-6") && m.Persistent.WriterGuid == _writerGuid);
        await _writer.ExpectMsgAsync<WriteMessageRejected>(m => m.Persistent.SequenceNr == 7 && m.Persistent.Payload is Unserializable && m.Cause.Message.Contains("deliberately"));
        await _writer.ExpectMsgAsync<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 8 && Equals(m.Persistent.Payload, "b-8"));

        Journal.Tell(new ReplayMessages(6, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        await _receiver.ExpectMsgAsync<ReplayedMessage>(m => m.Persistent.SequenceNr == 6);
        await _receiver.ExpectMsgAsync<ReplayedMessage>(m => m.Persistent.SequenceNr == 8);
        await ExpectRecoverySuccessAsync(8);
    }

    [Fact]
    public async Task Stores_all_events_of_an_atomic_write_or_none_of_them()
    {
        Journal.Tell(new WriteMessages(
            [new AtomicWrite(ImmutableList.Create<IPersistentRepresentation>(Event(6), Event(7), Event(8, payload: new Unserializable("no"))))],
            _writer.Ref, 1));
        await _writer.ExpectMsgAsync<WriteMessagesSuccessful>();
        for (var seq = 6; seq <= 8; seq++)
            await _writer.ExpectMsgAsync<WriteMessageRejected>();

        Journal.Tell(new ReplayMessages(6, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        await ExpectRecoverySuccessAsync(5);

        await WriteAsync(Journal, [Event(6), Event(7), Event(8)]);
        Journal.Tell(new ReplayMessages(6, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        for (var seq = 6; seq <= 8; seq++) await ExpectReplayedAsync(seq);
        await ExpectRecoverySuccessAsync(8);
    }

    [Fact]
    public async Task Never_lowers_the_highest_sequence_number_when_an_older_event_is_written_late()
    {
        await WriteAsync(Journal, [Event(10)]);
        await WriteAsync(Journal, [Event(7)]);

        Journal.Tell(new ReplayMessages(6, long.MaxValue, long.MaxValue, _pid, _receiver.Ref));
        await ExpectReplayedAsync(7);
        await ExpectReplayedAsync(10);
        await ExpectRecoverySuccessAsync(10);
    }

    [Fact]
    public async Task Replays_the_payload_of_tagged_events_and_keeps_their_tags_in_the_record()
    {
        await WriteAsync(Journal, [Event(6, payload: new Tagged("a-6", ["red", "blue"]))]);

        Journal.Tell(new ReplayMessages(6, 6, long.MaxValue, _pid, _receiver.Ref));
        await ExpectReplayedAsync(6);
        var stored = await RedisInspection.WithDatabaseAsync(_redis, db => db.SortedSetRangeByScoreAsync(RedisKeys.Events(Prefix, _pid), 6, 6));
        Assert.Equal(["blue", "red"], EventRecord.FromBytes((byte[])stored.Single()!).Tags.Order());
    }

    [Fact]
    public async Task Writes_of_many_persistence_ids_at_once_all_land_and_replay_separately()
    {
        var pids = Enumerable.Range(0, 40).Select(_ => PersistenceHocon.NewPid("many")).ToArray();
        var probes = pids.Select(_ => CreateTestProbe()).ToArray();
        for (var i = 0; i < pids.Length; i++)
            Journal.Tell(new WriteMessages([new AtomicWrite(ImmutableList.Create<IPersistentRepresentation>(Event(1, pids[i]), Event(2, pids[i])))], probes[i].Ref, i));
        foreach (var probe in probes) await probe.ExpectMsgAsync<WriteMessagesSuccessful>();

        foreach (var pid in pids)
        {
            Journal.Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, pid, _receiver.Ref));
            await ExpectReplayedAsync(1, pid);
            await ExpectReplayedAsync(2, pid);
            await ExpectRecoverySuccessAsync(2);
        }
    }

    [Fact]
    public async Task Puts_every_key_of_a_persistence_id_into_one_cluster_hash_slot()
    {
        var keys = new[]
        {
            RedisKeys.Events(Prefix, _pid), RedisKeys.Highest(Prefix, _pid), RedisKeys.DeletedTo(Prefix, _pid),
            RedisKeys.Snapshots(Prefix, _pid), RedisKeys.SnapshotData(Prefix, _pid),
        };
        Assert.Equal($"{Prefix}:{{{_pid}}}:events", (string)keys[0]!);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        Assert.Single(keys.Select(k => connection.HashSlot(k)).Distinct());
        Assert.True(await connection.GetDatabase().KeyExistsAsync(keys[0]));
        Assert.Equal(5, (long)await connection.GetDatabase().StringGetAsync(keys[1]));
    }

    private Persistent Event(long seq, string? pid = null, object? payload = null) =>
        new(payload ?? $"a-{seq}", seq, pid ?? _pid, string.Empty, false, ActorRefs.NoSender, _writerGuid);

    private async Task WriteInitialEventsAsync(IActorRef journal) =>
        await WriteAsync(journal, [Event(1)], [Event(2)], [Event(3)], [Event(4), Event(5)]);

    private async Task WriteAsync(IActorRef journal, params Persistent[][] atomicWrites)
    {
        var probe = CreateTestProbe();
        var writes = atomicWrites.Select(events => new AtomicWrite(events.ToImmutableList<IPersistentRepresentation>())).ToArray();
        journal.Tell(new WriteMessages(writes, probe.Ref, 1));
        await probe.ExpectMsgAsync<WriteMessagesSuccessful>();
        foreach (var e in atomicWrites.SelectMany(w => w))
            await probe.ExpectMsgAsync<WriteMessageSuccess>(m => m.Persistent.SequenceNr == e.SequenceNr && m.Persistent.PersistenceId == e.PersistenceId);
    }

    private async Task ExpectReplayedAsync(long seq, string? pid = null)
    {
        var expectedPid = pid ?? _pid;
        var message = await _receiver.ExpectMsgAsync<ReplayedMessage>();
        Assert.Equal(seq, message.Persistent.SequenceNr);
        Assert.Equal(expectedPid, message.Persistent.PersistenceId);
        Assert.False(message.Persistent.IsDeleted);
        Assert.Equal($"a-{seq}", message.Persistent.Payload.ToString());
    }

    private async Task ExpectRecoverySuccessAsync(long highest) =>
        Assert.Equal(highest, (await _receiver.ExpectMsgAsync<RecoverySuccess>()).HighestSequenceNr);

    private Task<long> CountStoredEventsAsync(string prefix, string? pid = null) =>
        RedisInspection.WithDatabaseAsync(_redis, db => db.SortedSetLengthAsync(RedisKeys.Events(prefix, pid ?? _pid)));

    public sealed record WithRef(IActorRef Ref, string Text);
}
