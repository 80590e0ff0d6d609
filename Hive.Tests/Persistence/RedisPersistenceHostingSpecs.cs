using Akka.Actor;
using Akka.Hosting;
using Hive.Persistence.Redis;
using Hive.Persistence.Redis.Hosting;
using Hive.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>One Akka.Hosting call wires both plugins, sharing the application's multiplexer.</summary>
public sealed class RedisPersistenceHostingSpecs : Akka.Hosting.TestKit.TestKit, IClassFixture<RedisFixture>
{
    private readonly RedisServer _redis;
    private ConnectionMultiplexer? _multiplexer;

    static RedisPersistenceHostingSpecs() =>
        Environment.SetEnvironmentVariable("DOTNET_HOSTBUILDER__RELOADCONFIGONCHANGE", "false");

    public RedisPersistenceHostingSpecs(RedisFixture fixture, ITestOutputHelper output) : base("hosting-spec", output) =>
        _redis = fixture.Redis;

    protected override void ConfigureServices(Microsoft.Extensions.Hosting.HostBuilderContext context, IServiceCollection services)
    {
        _multiplexer = ConnectionMultiplexer.Connect(_redis.ConnectionString);
        services.AddSingleton<IConnectionMultiplexer>(_multiplexer);
    }

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithRedisPersistence(_redis.ConnectionString, keyPrefix: "hosting-spec", multiplexer: provider.GetRequiredService<IConnectionMultiplexer>());

    [Fact]
    public async Task A_persistent_actor_configured_through_hosting_persists_snapshots_and_recovers()
    {
        var pid = PersistenceHocon.NewPid("hosted");
        var counter = Sys.ActorOf(CounterActor.Props(pid, TestActor));
        counter.Tell(new CounterActor.Add(3));
        await ExpectMsgAsync<CounterActor.Persisted>(TimeSpan.FromSeconds(10));
        counter.Tell(CounterActor.TakeSnapshot.Instance);
        await FishForMessageAsync<Akka.Persistence.SaveSnapshotSuccess>(_ => true, TimeSpan.FromSeconds(10));

        var db = _multiplexer!.GetDatabase();
        Assert.Equal(1, (long)await db.StringGetAsync(RedisKeys.Highest("hosting-spec", pid)));
        Assert.Equal(1, await db.SortedSetLengthAsync(RedisKeys.Snapshots("hosting-spec", pid)));
    }

    [Fact]
    public async Task The_plugins_use_the_multiplexer_supplied_by_the_application()
    {
        var used = await RedisConnections.Get(Sys).GetMultiplexerAsync(RedisConnectionSettings.Create("elsewhere:6379"));
        Assert.Same(_multiplexer, used);
    }

    protected override async Task AfterAllAsync()
    {
        await base.AfterAllAsync();
        if (_multiplexer is not null) await _multiplexer.DisposeAsync();
    }
}
