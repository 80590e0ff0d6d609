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

    [Fact]
    public async Task Rabbitmqctl_reaches_the_throwaway_broker_for_diagnostics()
    {
        var queue = $"ctl-{Guid.NewGuid():N}";
        var factory = new ConnectionFactory { Uri = new Uri(_fixture.Rabbit.Uri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        await channel.BasicPublishAsync("", queue, new ReadOnlyMemory<byte>("x"u8.ToArray()));

        var expected = $"{queue}\t1\t0\t0"; // name, ready, unacknowledged, consumers
        var listing = "";
        for (var i = 0; i < 20 && !listing.Split('\n').Contains(expected); i++)
        {
            if (i > 0) await Task.Delay(250);
            listing = await _fixture.Rabbit.CtlAsync("list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers");
        }

        Assert.Contains(expected, listing.Split('\n'));
    }
}
