using Hive.Persistence.Redis;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>How the plugins obtain, share and release their multiplexers.</summary>
public sealed class RedisConnectionsSpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>
{
    private readonly RedisServer _redis;

    public RedisConnectionsSpecs(RedisFixture fixture, ITestOutputHelper output) : base("akka.loglevel = WARNING", "connections-spec", output) =>
        _redis = fixture.Redis;

    [Fact]
    public async Task Plugins_with_the_same_connection_settings_share_one_multiplexer_whatever_their_database()
    {
        var connections = RedisConnections.Get(Sys);
        var journal = await connections.GetMultiplexerAsync(RedisConnectionSettings.Create(_redis.ConnectionString).WithDatabase(1));
        var snapshots = await connections.GetMultiplexerAsync(RedisConnectionSettings.Create(_redis.ConnectionString).WithDatabase(2));
        Assert.Same(journal, snapshots);
        Assert.True(journal.IsConnected);
    }

    [Fact]
    public async Task An_unshared_multiplexer_is_closed_when_its_plugin_releases_it()
    {
        var settings = RedisConnectionSettings.Create(_redis.ConnectionString) with { ShareConnection = false };
        var connections = RedisConnections.Get(Sys);
        var first = connections.GetMultiplexerAsync(settings);
        var second = connections.GetMultiplexerAsync(settings);
        Assert.NotSame(await first, await second);

        connections.Release(first, settings);
        await AwaitConditionAsync(() => Task.FromResult(!first.Result.IsConnected), TimeSpan.FromSeconds(5));
        Assert.True((await second).IsConnected);
    }

    [Fact]
    public async Task A_failed_connect_is_not_cached_and_the_next_request_tries_again()
    {
        var invalid = RedisConnectionSettings.Create("127.0.0.1:1,connectTimeout=notanumber");
        var connections = RedisConnections.Get(Sys);
        var first = connections.GetMultiplexerAsync(invalid);
        await Assert.ThrowsAnyAsync<Exception>(() => first);
        var second = connections.GetMultiplexerAsync(invalid);
        Assert.NotSame(first, second);
        await Assert.ThrowsAnyAsync<Exception>(() => second);
    }

    [Fact]
    public async Task Multiplexers_opened_by_the_plugins_are_closed_when_the_actor_system_terminates()
    {
        var multiplexer = await RedisConnections.Get(Sys).GetMultiplexerAsync(RedisConnectionSettings.Create(_redis.ConnectionString));
        await Sys.Terminate();
        await AwaitConditionAsync(() => Task.FromResult(!multiplexer.IsConnected), TimeSpan.FromSeconds(5));
    }
}
