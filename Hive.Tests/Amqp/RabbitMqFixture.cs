using Hive.Streams.Amqp;
using Hive.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit;

namespace Hive.Tests.Amqp;

/// <summary>One throwaway rabbitmq-server for a test class, plus helpers to look at queues from the outside.</summary>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    public RabbitMqServer Rabbit { get; private set; } = null!;

    /// <summary>Fast recovery so that broker-restart specs stay short.</summary>
    public AmqpConnectionSettings ConnectionSettings =>
        AmqpConnectionSettings.Create(Rabbit.Uri)
            .WithClientProvidedName("hive-amqp-specs")
            .WithNetworkRecoveryInterval(TimeSpan.FromMilliseconds(500))
            .WithRequestedHeartbeat(TimeSpan.FromSeconds(5));

    public async ValueTask InitializeAsync() => Rabbit = await RabbitMqServer.StartNewAsync();

    public async ValueTask DisposeAsync() => await Rabbit.DisposeAsync();

    /// <summary>A plain client connection (no recovery) to inspect the broker independently of the code under test.</summary>
    public async Task<IConnection> ConnectAdminAsync() =>
        await new ConnectionFactory { Uri = new Uri(Rabbit.Uri), AutomaticRecoveryEnabled = false, ClientProvidedName = "hive-amqp-specs-admin" }
            .CreateConnectionAsync();

    /// <summary>Ready (not delivered) messages and consumers of <paramref name="queue"/>, as the broker sees them.</summary>
    public async Task<(uint Ready, uint Consumers)> QueueStateAsync(string queue)
    {
        await using var connection = await ConnectAdminAsync();
        await using var channel = await connection.CreateChannelAsync();
        var ok = await channel.QueueDeclarePassiveAsync(queue);
        return (ok.MessageCount, ok.ConsumerCount);
    }

    /// <summary>Polls until the queue is in the expected state (the broker settles asynchronously).</summary>
    public async Task AwaitQueueStateAsync(string queue, uint? ready, uint? consumers = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        (uint Ready, uint Consumers) state;
        while (true)
        {
            try
            {
                state = await QueueStateAsync(queue);
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.NotFound && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50); // not declared yet
                continue;
            }
            if ((ready is null || state.Ready == ready) && (consumers is null || state.Consumers == consumers)) return;
            if (DateTime.UtcNow > deadline) break;
            await Task.Delay(50);
        }
        Assert.Fail($"queue {queue}: expected {ready?.ToString() ?? "any"} ready / {consumers?.ToString() ?? "any"} consumers, the broker reports {state.Ready} / {state.Consumers}");
    }
}
