using Hive.Actors.Contracts;
using Hive.Actors.Guides;
using Hive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Hive.Tests.Guides;

/// <summary>The per-cluster slots of a script (maxConcurrentPerCluster) against a real redis-server.</summary>
public sealed class ClusterSlotsSpecs(RedisFixture fixture) : IClassFixture<RedisFixture>, IAsyncLifetime
{
    private ConnectionMultiplexer _redis = null!;
    private readonly string _script = $"transcode-{Guid.NewGuid():N}";

    public async ValueTask InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString);

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task No_more_holders_than_the_limit_and_a_released_slot_is_free_again()
    {
        var slots = new ClusterSlots(_redis, TimeSpan.FromMinutes(1));

        Assert.True(await slots.TryAcquireAsync(_script, "node-a|g1|t1", 2));
        Assert.True(await slots.TryAcquireAsync(_script, "node-b|g1|t2", 2));
        Assert.False(await slots.TryAcquireAsync(_script, "node-a|g2|t3", 2));
        Assert.Equal(2, await _redis.SlotsHeldAsync(_script));
        Assert.False(await slots.TryAcquireAsync(_script + "-other", "x", 0)); // a limit of 0 never admits

        await slots.ReleaseAsync(_script, "node-b|g1|t2");
        Assert.True(await slots.TryAcquireAsync(_script, "node-a|g2|t3", 2));
        Assert.Equal(2, await _redis.SlotsHeldAsync(_script));
    }

    [Fact]
    public async Task Asking_again_as_the_same_holder_keeps_its_slot_without_taking_another()
    {
        var slots = new ClusterSlots(_redis, TimeSpan.FromMinutes(1));

        Assert.True(await slots.TryAcquireAsync(_script, "node-a|g1|t1", 1));
        Assert.True(await slots.TryAcquireAsync(_script, "node-a|g1|t1", 1));
        Assert.False(await slots.TryAcquireAsync(_script, "node-a|g2|t2", 1));
        Assert.Equal(1, await _redis.SlotsHeldAsync(_script));
    }

    [Fact]
    public async Task A_holder_that_stops_refreshing_loses_its_slot_when_its_lease_ends_and_one_that_refreshes_keeps_it()
    {
        var slots = new ClusterSlots(_redis, TimeSpan.FromSeconds(2));
        Assert.True(await slots.TryAcquireAsync(_script, "dead-node|g1|t1", 2));
        Assert.True(await slots.TryAcquireAsync(_script, "live-node|g1|t2", 2));

        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(600);
            await slots.RefreshAsync(_script, "live-node|g1|t2");
        }

        // three seconds after: the dead node's lease (2 s) ended, the refreshed one did not
        Assert.Equal(1, await _redis.SlotsHeldAsync(_script));
        Assert.True(await slots.TryAcquireAsync(_script, "other-node|g1|t3", 2));
        Assert.False(await slots.TryAcquireAsync(_script, "other-node|g2|t4", 2));
        Assert.True(await _redis.GetDatabase().KeyTimeToLiveAsync(RedisKeys.ScriptSlots(_script)) is { } ttl && ttl <= TimeSpan.FromSeconds(2),
            "the key expires with its last lease, so a script nobody runs leaves nothing behind");
    }

    [Fact]
    public async Task A_node_with_a_shorter_lease_never_cuts_another_node_s_longer_one_short()
    {
        var longLease = new ClusterSlots(_redis, TimeSpan.FromMinutes(1));
        var shortLease = new ClusterSlots(_redis, TimeSpan.FromMilliseconds(800));
        Assert.True(await longLease.TryAcquireAsync(_script, "node-a|g1|t1", 2));
        Assert.True(await shortLease.TryAcquireAsync(_script, "node-b|g1|t2", 2));
        await shortLease.RefreshAsync(_script, "node-b|g1|t2");

        Assert.True(await _redis.GetDatabase().KeyTimeToLiveAsync(RedisKeys.ScriptSlots(_script)) > TimeSpan.FromSeconds(50));
        await Task.Delay(1500);
        Assert.Equal(1, await _redis.SlotsHeldAsync(_script)); // node-a's slot outlived node-b's short lease
    }
}

/// <summary>What the tests read of a script's slots: how many are held now (ended leases not counted), on Redis's clock.</summary>
internal static class ClusterSlotsProbe
{
    public static async Task<long> SlotsHeldAsync(this IConnectionMultiplexer redis, string script)
    {
        var time = (RedisResult[])(await redis.GetDatabase().ExecuteAsync("TIME"))!;
        var nowMs = (long)time[0] * 1000 + (long)time[1] / 1000;
        return await redis.GetDatabase().SortedSetLengthAsync(RedisKeys.ScriptSlots(script), nowMs + 1);
    }
}
