using RabbitMQ.Client;
using StackExchange.Redis;
using Xunit;

namespace Hive.Tests.Infrastructure;

public sealed class BrokersFixtureSpecs : IClassFixture<BrokersFixture>
{
    private readonly BrokersFixture _fixture;

    public BrokersFixtureSpecs(BrokersFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task Started_brokers_answer_on_their_loopback_ports()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(_fixture.Redis.ConnectionString);
        await redis.GetDatabase().StringSetAsync("hello", "world");
        Assert.Equal("world", (string?)await redis.GetDatabase().StringGetAsync("hello"));

        var factory = new ConnectionFactory { Uri = new Uri(_fixture.Rabbit.Uri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.QueueDeclareAsync("", exclusive: true);
        await channel.BasicPublishAsync("", queue.QueueName, new ReadOnlyMemory<byte>("x"u8.ToArray()));
        var got = await channel.BasicGetAsync(queue.QueueName, autoAck: true);
        for (var i = 0; got is null && i < 50; i++)
        {
            await Task.Delay(50);
            got = await channel.BasicGetAsync(queue.QueueName, autoAck: true);
        }
        Assert.NotNull(got);
    }
}
