using Hive.Actors.Contracts;
using StackExchange.Redis;

namespace Hive.Actors.Guides;

/// <summary>
/// A script manifest's <c>maxConcurrentPerCluster</c>: a counting semaphore in Redis, one sorted set per script
/// (<see cref="RedisKeys.ScriptSlots"/>) whose members are the runs holding a slot, scored by when their lease ends.
/// A holder refreshes its lease while it runs; one that vanished (its node was killed) stops counting once its lease
/// ends, so a crash never takes a slot for good. Times are Redis's clock, so nodes' clocks need not agree. The key
/// expires with its latest lease (nodes may run with different leases), so a script nobody runs leaves nothing behind.
/// </summary>
public sealed class ClusterSlots(IConnectionMultiplexer redis, TimeSpan lease)
{
    // Drop ended leases, then take a slot when there is room (or when this holder has one already). 1 = held, 0 = full.
    private const string AcquireScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local lease = tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
          redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
          redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
          return 1
        end
        return 0
        """;

    // A running holder's lease is extended whatever the count: it runs, so it counts (even if its slot had lapsed).
    private const string RefreshScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local lease = tonumber(ARGV[2])
        redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
        redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
        return 1
        """;

    public TimeSpan Lease { get; } = lease > TimeSpan.Zero ? lease : throw new ArgumentOutOfRangeException(nameof(lease), "the slot lease must be positive");

    /// <summary>Takes one of <paramref name="limit"/> slots of <paramref name="script"/> for <paramref name="holder"/>; false when all are held.</summary>
    public async Task<bool> TryAcquireAsync(string script, string holder, int limit)
    {
        var held = await redis.GetDatabase().ScriptEvaluateAsync(AcquireScript, [RedisKeys.ScriptSlots(script)],
            [holder, limit, (long)Lease.TotalMilliseconds]).ConfigureAwait(false);
        return (long)held == 1;
    }

    /// <summary>Extends <paramref name="holder"/>'s lease by <see cref="Lease"/> from now.</summary>
    public Task RefreshAsync(string script, string holder) =>
        redis.GetDatabase().ScriptEvaluateAsync(RefreshScript, [RedisKeys.ScriptSlots(script)], [holder, (long)Lease.TotalMilliseconds]);

    public Task ReleaseAsync(string script, string holder) => redis.GetDatabase().SortedSetRemoveAsync(RedisKeys.ScriptSlots(script), holder);
}
