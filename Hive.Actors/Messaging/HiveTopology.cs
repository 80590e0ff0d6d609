using Hive.Actors.Configuration;
using Hive.Streams.Amqp;
using RabbitMQ.Client;

namespace Hive.Actors.Messaging;

/// <summary>The queues and exchanges a node declares (idempotently) at start and that its streams re-declare on recovery.</summary>
public static class HiveTopology
{
    public static QueueDeclaration TaskQueue(HiveSettings s) => new(s.TaskQueue, Durable: true);

    public static QueueDeclaration DeadLetterQueue(HiveSettings s) => new(s.DeadLetterQueue, Durable: true);

    public static ExchangeDeclaration ControlExchange(HiveSettings s) => new(s.ControlExchange, ExchangeType.Fanout, Durable: true);

    public static ExchangeDeclaration ResultsExchange(HiveSettings s) => new(s.ResultsExchange, ExchangeType.Topic, Durable: true);

    /// <summary>The seed declares its exchange direct and not durable; any other declaration is refused by a broker it shares.</summary>
    public static ExchangeDeclaration SeedControlExchange(HiveSettings s) => new(s.SeedControlExchange, ExchangeType.Direct, Durable: false);

    public static IReadOnlyList<AmqpDeclaration> All(HiveSettings s)
    {
        var all = new List<AmqpDeclaration> { TaskQueue(s), DeadLetterQueue(s), ControlExchange(s), ResultsExchange(s) };
        if (s.SeedControl) all.Add(SeedControlExchange(s));
        return all;
    }

    public static async Task DeclareAsync(AmqpConnectionProvider provider, HiveSettings settings, CancellationToken ct = default)
    {
        await using var channel = await provider.CreateChannelAsync(cancellationToken: ct);
        await AmqpDeclaration.DeclareAllAsync(channel, All(settings), ct);
    }
}
