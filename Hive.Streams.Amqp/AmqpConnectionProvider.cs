using RabbitMQ.Client;

namespace Hive.Streams.Amqp;

/// <summary>
/// Owns the one shared <see cref="IConnection"/> of a node: every source stage and publisher opens its own channel on it,
/// so a node keeps a single TCP connection to the broker. The connection is created asynchronously on first use;
/// concurrent callers share that attempt, and a failed attempt is not cached (the next call tries again).
/// Reconnection is the client's automatic recovery (<see cref="AmqpConnectionSettings.AutomaticRecoveryEnabled"/>);
/// with recovery disabled a closed connection is replaced on the next <see cref="GetConnectionAsync"/>.
/// Disposing closes the connection once; it is safe to dispose more than once.
/// </summary>
public sealed class AmqpConnectionProvider : IAsyncDisposable
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private Task<IConnection>? _connecting;
    private bool _isDisposed;

    public AmqpConnectionProvider(AmqpConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
    }

    public AmqpConnectionSettings Settings { get; }

    /// <summary>The shared connection, connecting first if needed.</summary>
    /// <exception cref="ObjectDisposedException">the provider was disposed.</exception>
    /// <exception cref="RabbitMQ.Client.Exceptions.BrokerUnreachableException">the broker could not be reached.</exception>
    public Task<IConnection> GetConnectionAsync(CancellationToken cancellationToken = default)
    {
        Task<IConnection> connecting;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_isDisposed, this);
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled || IsDead(_connecting))
                _connecting = ConnectAsync();
            connecting = _connecting;
        }
        // the shared attempt is not cancelled by one caller giving up
        return connecting.WaitAsync(cancellationToken);
    }

    /// <summary>Opens a new channel on the shared connection.</summary>
    public async Task<IChannel> CreateChannelAsync(CreateChannelOptions? options = null, CancellationToken cancellationToken = default)
    {
        var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await connection.CreateChannelAsync(options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// True while the shared connection exists but is down and the client will recover it: a channel that closed
    /// meanwhile will come back by itself; a channel that closed while this is false is dead for good.
    /// </summary>
    internal bool IsRecovering
    {
        get
        {
            Task<IConnection>? connecting;
            lock (_gate) connecting = _connecting;
            return Settings.AutomaticRecoveryEnabled && connecting is { IsCompletedSuccessfully: true } && !connecting.Result.IsOpen
                   && connecting.Result.CloseReason?.Initiator != ShutdownInitiator.Application;
        }
    }

    private bool IsDead(Task<IConnection> connecting) =>
        connecting.IsCompletedSuccessfully && !connecting.Result.IsOpen &&
        (!Settings.AutomaticRecoveryEnabled || connecting.Result.CloseReason?.Initiator == ShutdownInitiator.Application);

    private async Task<IConnection> ConnectAsync()
    {
        var factory = Settings.CreateConnectionFactory();
        return await factory.CreateConnectionAsync(_disposed.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Task<IConnection>? connecting;
        lock (_gate)
        {
            if (_isDisposed) return;
            _isDisposed = true;
            connecting = _connecting;
            _connecting = null;
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (connecting is not null)
        {
            try
            {
                var connection = await connecting.ConfigureAwait(false);
                await connection.CloseAsync(Constants.ReplySuccess, "hive: connection provider disposed", CloseTimeout, abort: false)
                    .ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // never connected, or already gone: nothing left to close
            }
        }
        _disposed.Dispose();
    }

    public override string ToString() => $"AmqpConnectionProvider({Settings})";
}
