using RabbitMQ.Client;

namespace Hive.Streams.Amqp;

/// <summary>
/// Immutable settings of the one AMQP connection a Hive node opens (see <see cref="AmqpConnectionProvider"/>).
/// Automatic connection and topology recovery are on by default: the client re-opens the connection, its channels,
/// the recorded queues/exchanges/bindings and the consumers after a network failure or a broker restart, so stages
/// and publishers keep working without being re-materialized. <see cref="ToString"/> never prints the password.
/// </summary>
public sealed record AmqpConnectionSettings
{
    private AmqpConnectionSettings(Uri uri) => Uri = uri;

    /// <summary><c>amqp://user:password@host:port/vhost</c> (or <c>amqps://</c>).</summary>
    public Uri Uri { get; private init; }

    /// <summary>Shown in the broker's connection list (management UI, <c>rabbitmqctl list_connections</c>).</summary>
    public string ClientProvidedName { get; private init; } = "hive";

    public bool AutomaticRecoveryEnabled { get; private init; } = true;

    /// <summary>Re-declare recorded queues/exchanges/bindings and re-register consumers after a recovery.</summary>
    public bool TopologyRecoveryEnabled { get; private init; } = true;

    /// <summary>Pause between two recovery attempts.</summary>
    public TimeSpan NetworkRecoveryInterval { get; private init; } = TimeSpan.FromSeconds(5);

    /// <summary>AMQP heartbeat; a dead peer is noticed after about two missed heartbeats.</summary>
    public TimeSpan RequestedHeartbeat { get; private init; } = TimeSpan.FromSeconds(30);

    /// <summary>TCP connect timeout of one connection attempt.</summary>
    public TimeSpan ConnectionTimeout { get; private init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a synchronous AMQP method (declare, qos, consume, ...) may wait for the broker's reply.</summary>
    public TimeSpan ContinuationTimeout { get; private init; } = TimeSpan.FromSeconds(20);

    public static AmqpConnectionSettings Create(string uri)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(uri);
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed))
            throw new ArgumentException($"'{MaskPassword(uri)}' is not an absolute AMQP URI (amqp://user:password@host:5672/vhost).", nameof(uri));
        return Create(parsed);
    }

    public static AmqpConnectionSettings Create(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
            throw new ArgumentException($"'{MaskPassword(uri.OriginalString)}' is not an amqp:// or amqps:// URI.", nameof(uri));
        return new AmqpConnectionSettings(uri);
    }

    public AmqpConnectionSettings WithClientProvidedName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return this with { ClientProvidedName = name };
    }

    public AmqpConnectionSettings WithAutomaticRecoveryEnabled(bool enabled) => this with { AutomaticRecoveryEnabled = enabled };

    public AmqpConnectionSettings WithTopologyRecoveryEnabled(bool enabled) => this with { TopologyRecoveryEnabled = enabled };

    public AmqpConnectionSettings WithNetworkRecoveryInterval(TimeSpan interval) =>
        this with { NetworkRecoveryInterval = Positive(interval, nameof(interval)) };

    /// <summary><see cref="TimeSpan.Zero"/> disables heartbeats (not recommended).</summary>
    public AmqpConnectionSettings WithRequestedHeartbeat(TimeSpan heartbeat)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(heartbeat, TimeSpan.Zero);
        return this with { RequestedHeartbeat = heartbeat };
    }

    public AmqpConnectionSettings WithConnectionTimeout(TimeSpan timeout) =>
        this with { ConnectionTimeout = Positive(timeout, nameof(timeout)) };

    public AmqpConnectionSettings WithContinuationTimeout(TimeSpan timeout) =>
        this with { ContinuationTimeout = Positive(timeout, nameof(timeout)) };

    /// <summary>True when a lost connection is re-established together with its consumers.</summary>
    internal bool RecoversConsumers => AutomaticRecoveryEnabled && TopologyRecoveryEnabled;

    internal ConnectionFactory CreateConnectionFactory() => new()
    {
        Uri = Uri,
        ClientProvidedName = ClientProvidedName,
        AutomaticRecoveryEnabled = AutomaticRecoveryEnabled,
        TopologyRecoveryEnabled = TopologyRecoveryEnabled,
        NetworkRecoveryInterval = NetworkRecoveryInterval,
        RequestedHeartbeat = RequestedHeartbeat,
        RequestedConnectionTimeout = ConnectionTimeout,
        ContinuationTimeout = ContinuationTimeout,
    };

    public override string ToString() =>
        $"AmqpConnectionSettings(Uri={MaskPassword(Uri.OriginalString)}, ClientProvidedName={ClientProvidedName}, " +
        $"AutomaticRecovery={AutomaticRecoveryEnabled}, TopologyRecovery={TopologyRecoveryEnabled}, " +
        $"NetworkRecoveryInterval={NetworkRecoveryInterval}, RequestedHeartbeat={RequestedHeartbeat})";

    /// <summary>Replaces the password of <c>scheme://user:password@host</c> with <c>***</c>.</summary>
    internal static string MaskPassword(string uri)
    {
        var schemeEnd = uri.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0) return uri;
        var authorityStart = schemeEnd + 3;
        var at = uri.IndexOf('@', authorityStart);
        if (at < 0) return uri;
        var slash = uri.IndexOf('/', authorityStart);
        if (slash >= 0 && slash < at) return uri;
        var colon = uri.IndexOf(':', authorityStart);
        if (colon < 0 || colon > at) return uri;
        return string.Concat(uri.AsSpan(0, colon + 1), "***", uri.AsSpan(at));
    }

    private static TimeSpan Positive(TimeSpan value, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero, name);
        return value;
    }
}
