using Akka.Actor;
using Akka.Persistence;
using Akka.TestKit;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>
/// The cases of Akka.Persistence.TCK's SnapshotStoreSpec (written out), against a real redis-server.
/// Each test starts with snapshots "s-1".."s-5" at sequence numbers 11..15 of a fresh persistence id.
/// The load page size is 2, so selections that skip newer snapshots walk several pages.
/// </summary>
public sealed class RedisSnapshotStoreSpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>, IAsyncLifetime
{
    private readonly string _pid = PersistenceHocon.NewPid("snapshot");
    private readonly TestProbe _sender;
    private List<SnapshotMetadata> _metadata = [];

    public RedisSnapshotStoreSpecs(RedisFixture fixture, ITestOutputHelper output)
        : base(PersistenceHocon.For(fixture.Redis, "snapshot-spec", snapshotExtra: "load-page-size = 2"), "snapshot-spec", output)
    {
        _sender = CreateTestProbe();
    }

    private IActorRef SnapshotStore => Akka.Persistence.Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);

    public async ValueTask InitializeAsync()
    {
        for (var i = 1; i <= 5; i++)
        {
            SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(_pid, i + 10, DateTime.UtcNow), $"s-{i}"), _sender.Ref);
            _metadata.Add((await _sender.ExpectMsgAsync<SaveSnapshotSuccess>()).Metadata);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Loads_nothing_for_a_persistence_id_without_snapshots()
    {
        SnapshotStore.Tell(new LoadSnapshot("no-snapshots", SnapshotSelectionCriteria.Latest, long.MaxValue), _sender.Ref);
        await _sender.ExpectMsgAsync<LoadSnapshotResult>(r => r.Snapshot is null && r.ToSequenceNr == long.MaxValue);
    }

    [Fact]
    public async Task Loads_nothing_when_no_snapshot_is_old_enough_for_the_timestamp_criteria()
    {
        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(long.MaxValue, new DateTime(100000)), long.MaxValue), _sender.Ref);
        await _sender.ExpectMsgAsync<LoadSnapshotResult>(r => r.Snapshot is null && r.ToSequenceNr == long.MaxValue);
    }

    [Fact]
    public async Task Loads_nothing_when_no_snapshot_matches_the_sequence_number_criteria()
    {
        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(7), long.MaxValue), _sender.Ref);
        await _sender.ExpectMsgAsync<LoadSnapshotResult>(r => r.Snapshot is null && r.ToSequenceNr == long.MaxValue);

        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, 7), _sender.Ref);
        await _sender.ExpectMsgAsync<LoadSnapshotResult>(r => r.Snapshot is null && r.ToSequenceNr == 7);
    }

    [Fact]
    public async Task Loads_the_most_recent_snapshot()
    {
        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(4, long.MaxValue);
    }

    [Fact]
    public async Task Loads_the_most_recent_snapshot_within_an_upper_sequence_number_bound()
    {
        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(13), long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(2, long.MaxValue);

        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, 13), _sender.Ref);
        await ExpectSnapshotAsync(2, 13);
    }

    [Fact]
    public async Task Loads_the_most_recent_snapshot_within_sequence_number_and_timestamp_bounds()
    {
        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(13, _metadata[2].Timestamp), long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(2, long.MaxValue);

        // Newer snapshots (14, 15) fail the timestamp bound and are skipped page by page.
        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(long.MaxValue, _metadata[2].Timestamp), 13), _sender.Ref);
        await ExpectSnapshotAsync(2, 13);
    }

    [Fact]
    public async Task Loads_nothing_below_a_minimum_sequence_number()
    {
        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(12, DateTime.MaxValue, 12, null), long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(1, long.MaxValue);

        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(10, DateTime.MaxValue, 5, null), long.MaxValue), _sender.Ref);
        await _sender.ExpectMsgAsync<LoadSnapshotResult>(r => r.Snapshot is null);
    }

    [Fact]
    public async Task Deletes_a_single_snapshot_identified_by_its_sequence_number()
    {
        var md = new SnapshotMetadata(_pid, _metadata[2].SequenceNr, DateTime.MinValue); // timestamp does not matter for a single delete
        var subscriber = CreateTestProbe();
        Sys.EventStream.Subscribe(subscriber.Ref, typeof(DeleteSnapshot));
        SnapshotStore.Tell(new DeleteSnapshot(md), _sender.Ref);
        await subscriber.ExpectMsgAsync<DeleteSnapshot>();
        await _sender.ExpectMsgAsync<DeleteSnapshotSuccess>();

        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(md.SequenceNr), long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(1, long.MaxValue);
    }

    [Fact]
    public async Task Deletes_all_snapshots_matching_upper_sequence_number_and_timestamp_bounds()
    {
        var md = _metadata[2];
        SnapshotStore.Tell(new DeleteSnapshots(_pid, new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp)), _sender.Ref);
        await _sender.ExpectMsgAsync<DeleteSnapshotsSuccess>();

        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp), long.MaxValue), _sender.Ref);
        await _sender.ExpectMsgAsync<LoadSnapshotResult>(r => r.Snapshot is null && r.ToSequenceNr == long.MaxValue);

        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(_metadata[3].SequenceNr, _metadata[3].Timestamp), long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(3, long.MaxValue);
    }

    [Fact]
    public async Task Does_not_delete_snapshots_newer_than_the_timestamp_bound()
    {
        var md = _metadata[3];
        var criteria = new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp.Subtract(TimeSpan.FromTicks(1)));
        SnapshotStore.Tell(new DeleteSnapshots(_pid, criteria), _sender.Ref);
        await _sender.ExpectMsgAsync<DeleteSnapshotsSuccess>(m => m.Criteria.Equals(criteria));

        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp), long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(3, long.MaxValue);
    }

    [Fact]
    public async Task Overwrites_a_snapshot_saved_again_with_the_same_sequence_number()
    {
        var md = _metadata[4];
        SnapshotStore.Tell(new SaveSnapshot(md, "s-5-modified"), _sender.Ref);
        Assert.Equal(md.SequenceNr, (await _sender.ExpectMsgAsync<SaveSnapshotSuccess>()).Metadata.SequenceNr);

        SnapshotStore.Tell(new LoadSnapshot(_pid, new SnapshotSelectionCriteria(md.SequenceNr), long.MaxValue), _sender.Ref);
        var result = await _sender.ExpectMsgAsync<LoadSnapshotResult>();
        Assert.Equal("s-5-modified", result.Snapshot.Snapshot);
        Assert.Equal(md.SequenceNr, result.Snapshot.Metadata.SequenceNr);

        // Only one snapshot remains at that sequence number: deleting it reveals the previous one.
        SnapshotStore.Tell(new DeleteSnapshot(md), _sender.Ref);
        await _sender.ExpectMsgAsync<DeleteSnapshotSuccess>();
        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(3, long.MaxValue);
    }

    [Fact]
    public async Task Saves_and_loads_a_large_binary_snapshot()
    {
        var big = new byte[256 * 1024];
        Random.Shared.NextBytes(big);
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(_pid, 100, DateTime.UtcNow), big), _sender.Ref);
        await _sender.ExpectMsgAsync<SaveSnapshotSuccess>();

        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, long.MaxValue), _sender.Ref);
        var result = await _sender.ExpectMsgAsync<LoadSnapshotResult>();
        Assert.Equal(big, (byte[])result.Snapshot.Snapshot);
    }

    [Fact]
    public async Task Round_trips_snapshots_holding_actor_refs_through_the_serialization_system()
    {
        var probe = CreateTestProbe();
        var snapshot = new RedisJournalSpecs.WithRef(probe.Ref, "snap");
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(_pid, 100, DateTime.UtcNow), snapshot), _sender.Ref);
        await _sender.ExpectMsgAsync<SaveSnapshotSuccess>(m => m.Metadata.PersistenceId == _pid && m.Metadata.SequenceNr == 100);

        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, long.MaxValue), _sender.Ref);
        var result = await _sender.ExpectMsgAsync<LoadSnapshotResult>();
        Assert.Equal(snapshot, result.Snapshot.Snapshot);
        Assert.Equal(100, result.Snapshot.Metadata.SequenceNr);
    }

    [Fact]
    public async Task Fails_the_save_of_a_snapshot_that_cannot_be_serialized_and_keeps_the_older_ones()
    {
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(_pid, 100, DateTime.UtcNow), new Unserializable("no")), _sender.Ref);
        await _sender.ExpectMsgAsync<SaveSnapshotFailure>();

        SnapshotStore.Tell(new LoadSnapshot(_pid, SnapshotSelectionCriteria.Latest, long.MaxValue), _sender.Ref);
        await ExpectSnapshotAsync(4, long.MaxValue);
    }

    private async Task ExpectSnapshotAsync(int index, long toSequenceNr)
    {
        var result = await _sender.ExpectMsgAsync<LoadSnapshotResult>();
        Assert.Equal(toSequenceNr, result.ToSequenceNr);
        Assert.NotNull(result.Snapshot);
        Assert.Equal(_metadata[index], result.Snapshot.Metadata);
        Assert.Equal($"s-{index + 1}", result.Snapshot.Snapshot);
    }
}
