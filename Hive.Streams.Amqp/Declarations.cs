using RabbitMQ.Client;

namespace Hive.Streams.Amqp;

/// <summary>
/// A piece of broker topology a stage or publisher declares on every channel it opens. Declarations are idempotent
/// on the broker as long as they are repeated with the same arguments; the client records them and re-declares them
/// after a connection recovery (topology recovery).
/// </summary>
public abstract record AmqpDeclaration
{
    private protected AmqpDeclaration() { }

    internal abstract Task DeclareAsync(IChannel channel, CancellationToken cancellationToken);

    /// <summary>Declares each of <paramref name="declarations"/> on <paramref name="channel"/>, bindings last.</summary>
    public static async Task DeclareAllAsync(IChannel channel, IEnumerable<AmqpDeclaration> declarations, CancellationToken cancellationToken)
    {
        // order matters: exchanges and queues must exist before the bindings between them
        foreach (var declaration in declarations.OrderBy(d => d is BindingDeclaration ? 1 : 0))
            await declaration.DeclareAsync(channel, cancellationToken).ConfigureAwait(false);
    }

    private protected static Dictionary<string, object?>? Copy(IReadOnlyDictionary<string, object?>? arguments) =>
        arguments is null || arguments.Count == 0 ? null : arguments.ToDictionary(kv => kv.Key, kv => kv.Value);
}

/// <summary>A queue, e.g. the durable task queue with <c>x-dead-letter-exchange</c> set in <see cref="Arguments"/>.</summary>
public sealed record QueueDeclaration(
    string Name,
    bool Durable = true,
    bool Exclusive = false,
    bool AutoDelete = false,
    IReadOnlyDictionary<string, object?>? Arguments = null) : AmqpDeclaration
{
    public string Name { get; init; } = !string.IsNullOrWhiteSpace(Name)
        ? Name
        : throw new ArgumentException("A declared queue needs a name; use TemporaryQueueSourceSettings for a server-named queue.", nameof(Name));

    /// <summary>Dead-letters rejected (nack without requeue) and expired messages to <paramref name="exchange"/>.</summary>
    public QueueDeclaration WithDeadLetterExchange(string exchange, string? routingKey = null)
    {
        ArgumentNullException.ThrowIfNull(exchange);
        var arguments = new Dictionary<string, object?>(Arguments ?? new Dictionary<string, object?>()) { ["x-dead-letter-exchange"] = exchange };
        if (routingKey is not null) arguments["x-dead-letter-routing-key"] = routingKey;
        return this with { Arguments = arguments };
    }

    internal override Task DeclareAsync(IChannel channel, CancellationToken cancellationToken) =>
        channel.QueueDeclareAsync(Name, Durable, Exclusive, AutoDelete, Copy(Arguments), cancellationToken: cancellationToken);
}

/// <summary>An exchange; <see cref="Type"/> is one of <see cref="ExchangeType"/>'s names.</summary>
public sealed record ExchangeDeclaration(
    string Name,
    string Type = ExchangeType.Direct,
    bool Durable = true,
    bool AutoDelete = false,
    IReadOnlyDictionary<string, object?>? Arguments = null) : AmqpDeclaration
{
    public string Name { get; init; } = !string.IsNullOrWhiteSpace(Name)
        ? Name
        : throw new ArgumentException("The default exchange cannot be declared; give the exchange a name.", nameof(Name));

    internal override Task DeclareAsync(IChannel channel, CancellationToken cancellationToken) =>
        channel.ExchangeDeclareAsync(Name, Type, Durable, AutoDelete, Copy(Arguments), cancellationToken: cancellationToken);
}

/// <summary>Binds <see cref="Queue"/> to <see cref="Exchange"/> with <see cref="RoutingKey"/>.</summary>
public sealed record BindingDeclaration(
    string Queue,
    string Exchange,
    string RoutingKey = "",
    IReadOnlyDictionary<string, object?>? Arguments = null) : AmqpDeclaration
{
    internal override Task DeclareAsync(IChannel channel, CancellationToken cancellationToken) =>
        channel.QueueBindAsync(Queue, Exchange, RoutingKey, Copy(Arguments), cancellationToken: cancellationToken);
}
