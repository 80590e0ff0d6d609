using Xunit;

namespace Hive.Tests.Infrastructure;

/// <summary>One redis-server for a test class or collection.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Redis { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Redis = await RedisServer.StartNewAsync();

    public async ValueTask DisposeAsync() => await Redis.DisposeAsync();
}

/// <summary>One redis-server and one rabbitmq-server for a test class or collection.</summary>
public sealed class BrokersFixture : IAsyncLifetime
{
    public RedisServer Redis { get; private set; } = null!;
    public RabbitMqServer Rabbit { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var redis = RedisServer.StartNewAsync();
        var rabbit = RabbitMqServer.StartNewAsync();
        Redis = await redis;
        Rabbit = await rabbit;
    }

    /// <summary>A started pair outside xunit's fixture lifecycle; <paramref name="durableRedis"/>: see <see cref="RedisServer.Durable"/>.</summary>
    public static async Task<BrokersFixture> StartAsync(bool durableRedis)
    {
        var redis = RedisServer.StartNewAsync(durableRedis);
        var rabbit = RabbitMqServer.StartNewAsync();
        return new BrokersFixture { Redis = await redis, Rabbit = await rabbit };
    }

    public async ValueTask DisposeAsync()
    {
        await Rabbit.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
