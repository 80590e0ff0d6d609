namespace Hive.Streams.Amqp;

/// <summary>Immutable settings of an <see cref="AmqpPublisher"/>.</summary>
public sealed record AmqpPublisherSettings
{
    private AmqpPublisherSettings() { }

    public static AmqpPublisherSettings Default { get; } = new();

    public static AmqpPublisherSettings Create() => Default;

    /// <summary>Declared on every channel the publisher opens (e.g. the exchange it publishes to).</summary>
    public IReadOnlyList<AmqpDeclaration> Declarations { get; private init; } = [];

    /// <summary>
    /// Channels the publisher opens at most, i.e. how many publishes await their confirm at once; further callers wait
    /// for a free channel. Each publish awaits its own confirm, so one channel means one message per broker round trip.
    /// </summary>
    public int MaxChannels { get; private init; } = 4;

    /// <summary>
    /// Upper bound of one <see cref="AmqpPublisher.PublishAsync(string,string,ReadOnlyMemory{byte},RabbitMQ.Client.BasicProperties?,bool,CancellationToken)"/>:
    /// waiting for a free channel, for a recovering connection, and for the broker's confirm.
    /// </summary>
    public TimeSpan PublishTimeout { get; private init; } = TimeSpan.FromSeconds(30);

    public AmqpPublisherSettings WithDeclarations(params AmqpDeclaration[] declarations)
    {
        ArgumentNullException.ThrowIfNull(declarations);
        if (declarations.Any(d => d is null)) throw new ArgumentException("A declaration is null.", nameof(declarations));
        return this with { Declarations = declarations.ToArray() };
    }

    public AmqpPublisherSettings WithMaxChannels(int maxChannels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChannels, 1);
        return this with { MaxChannels = maxChannels };
    }

    public AmqpPublisherSettings WithPublishTimeout(TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        return this with { PublishTimeout = timeout };
    }

    public override string ToString() =>
        $"AmqpPublisherSettings(Declarations={Declarations.Count}, MaxChannels={MaxChannels}, PublishTimeout={PublishTimeout})";
}
