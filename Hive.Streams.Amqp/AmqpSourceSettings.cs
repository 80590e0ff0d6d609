namespace Hive.Streams.Amqp;

/// <summary>
/// Settings of a committable AMQP source: the shared connection, the topology to declare on the source's channel,
/// and where to consume from (<see cref="NamedQueueSourceSettings"/> or <see cref="TemporaryQueueSourceSettings"/>).
/// The prefetch is not a setting: it is the source's <c>bufferSize</c>, because a prefetch above the buffer would
/// overflow the stage and one below it would leave buffer slots that can never fill.
/// </summary>
public abstract record AmqpSourceSettings
{
    private protected AmqpSourceSettings(AmqpConnectionProvider connectionProvider)
    {
        ArgumentNullException.ThrowIfNull(connectionProvider);
        ConnectionProvider = connectionProvider;
    }

    public AmqpConnectionProvider ConnectionProvider { get; private init; }

    /// <summary>Declared, in order (bindings last), on every channel the source opens.</summary>
    public IReadOnlyList<AmqpDeclaration> Declarations { get; private protected init; } = [];

    /// <summary>Consumer tag; empty lets the broker generate one.</summary>
    public string ConsumerTag { get; private protected init; } = "";

    /// <summary>
    /// After downstream cancels, how long the source keeps its channel open so that deliveries already emitted can
    /// still be acknowledged. Unacknowledged deliveries return to the queue when the channel closes.
    /// </summary>
    public TimeSpan DrainTimeout { get; private protected init; } = TimeSpan.FromSeconds(10);

    private protected static IReadOnlyList<AmqpDeclaration> Checked(AmqpDeclaration[] declarations)
    {
        ArgumentNullException.ThrowIfNull(declarations);
        if (declarations.Any(d => d is null)) throw new ArgumentException("A declaration is null.", nameof(declarations));
        return declarations.ToArray();
    }

    private protected static TimeSpan CheckedDrainTimeout(TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        return timeout;
    }
}

/// <summary>Consumes an existing (or declared) queue by name, e.g. the node's task queue.</summary>
public sealed record NamedQueueSourceSettings : AmqpSourceSettings
{
    private NamedQueueSourceSettings(AmqpConnectionProvider provider, string queue) : base(provider) => Queue = queue;

    public string Queue { get; private init; }

    /// <summary>Exclusive consumer: the broker refuses every other consumer on the queue while this one is registered.</summary>
    public bool ExclusiveConsumer { get; private init; }

    /// <summary>Arguments of <c>basic.consume</c> (e.g. <c>x-priority</c>).</summary>
    public IReadOnlyDictionary<string, object?> ConsumerArguments { get; private init; } = new Dictionary<string, object?>();

    public static NamedQueueSourceSettings Create(AmqpConnectionProvider connectionProvider, string queue)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        return new NamedQueueSourceSettings(connectionProvider, queue);
    }

    public NamedQueueSourceSettings WithDeclarations(params AmqpDeclaration[] declarations) => this with { Declarations = Checked(declarations) };

    public NamedQueueSourceSettings WithConsumerTag(string consumerTag)
    {
        ArgumentNullException.ThrowIfNull(consumerTag);
        return this with { ConsumerTag = consumerTag };
    }

    public NamedQueueSourceSettings WithExclusiveConsumer(bool exclusive) => this with { ExclusiveConsumer = exclusive };

    public NamedQueueSourceSettings WithConsumerArguments(IReadOnlyDictionary<string, object?> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return this with { ConsumerArguments = new Dictionary<string, object?>(arguments) };
    }

    public NamedQueueSourceSettings WithDrainTimeout(TimeSpan timeout) => this with { DrainTimeout = CheckedDrainTimeout(timeout) };

    public override string ToString() =>
        $"NamedQueueSourceSettings(Queue={Queue}, Declarations={Declarations.Count}, ConsumerTag={ConsumerTag}, Exclusive={ExclusiveConsumer}, {ConnectionProvider.Settings})";
}

/// <summary>
/// Declares a server-named, exclusive, auto-delete queue bound to <see cref="Exchange"/> with <see cref="RoutingKey"/>
/// and consumes it: a per-node control queue that disappears with the node. After a connection recovery the client
/// re-declares it (under a new name) with its binding and moves the consumer over; messages published meanwhile are lost.
/// </summary>
public sealed record TemporaryQueueSourceSettings : AmqpSourceSettings
{
    private TemporaryQueueSourceSettings(AmqpConnectionProvider provider, string exchange) : base(provider) => Exchange = exchange;

    public string Exchange { get; private init; }

    public string RoutingKey { get; private init; } = "";

    public static TemporaryQueueSourceSettings Create(AmqpConnectionProvider connectionProvider, string exchange, string routingKey = "")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(exchange);
        ArgumentNullException.ThrowIfNull(routingKey);
        return new TemporaryQueueSourceSettings(connectionProvider, exchange) { RoutingKey = routingKey };
    }

    /// <summary>Typically the <see cref="ExchangeDeclaration"/> of <see cref="Exchange"/>.</summary>
    public TemporaryQueueSourceSettings WithDeclarations(params AmqpDeclaration[] declarations) => this with { Declarations = Checked(declarations) };

    public TemporaryQueueSourceSettings WithRoutingKey(string routingKey)
    {
        ArgumentNullException.ThrowIfNull(routingKey);
        return this with { RoutingKey = routingKey };
    }

    public TemporaryQueueSourceSettings WithConsumerTag(string consumerTag)
    {
        ArgumentNullException.ThrowIfNull(consumerTag);
        return this with { ConsumerTag = consumerTag };
    }

    public TemporaryQueueSourceSettings WithDrainTimeout(TimeSpan timeout) => this with { DrainTimeout = CheckedDrainTimeout(timeout) };

    public override string ToString() =>
        $"TemporaryQueueSourceSettings(Exchange={Exchange}, RoutingKey={RoutingKey}, Declarations={Declarations.Count}, {ConnectionProvider.Settings})";
}
