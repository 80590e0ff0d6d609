using System.Collections.Concurrent;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Hive.Streams.Amqp;

/// <summary>
/// Publishes with publisher confirms: <see cref="PublishAsync(string,string,ReadOnlyMemory{byte},BasicProperties?,bool,CancellationToken)"/>
/// completes once the broker confirmed the message (for a persistent message on a durable queue: written to disk),
/// and throws <see cref="RabbitMQ.Client.Exceptions.PublishException"/> when the broker nacks it or, with
/// <c>mandatory</c>, returns it as unroutable (<c>IsReturn</c>).
/// <para>
/// Thread-safe: a small pool of confirm-enabled channels on the provider's shared connection, each used by one publish
/// at a time (<see cref="AmqpPublisherSettings.MaxChannels"/>). Survives connection recovery: a publish issued while
/// the connection is down waits for the client to recover it, within <see cref="AmqpPublisherSettings.PublishTimeout"/>;
/// a publish in flight when the connection drops fails, and whether the broker got it is unknown (retry it: consumers
/// must tolerate duplicates). A channel the broker closed (e.g. publishing to a missing exchange) is replaced.
/// </para>
/// </summary>
public sealed class AmqpPublisher : IAsyncDisposable
{
    private static readonly TimeSpan RecoveryPollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly CreateChannelOptions ConfirmedChannel =
        new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    private readonly AmqpConnectionProvider _provider;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentQueue<IChannel> _idle = new();
    private readonly CancellationTokenSource _disposed = new();
    private int _isDisposed;

    public AmqpPublisher(AmqpConnectionProvider provider, AmqpPublisherSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _provider = provider;
        Settings = settings ?? AmqpPublisherSettings.Default;
        _slots = new SemaphoreSlim(Settings.MaxChannels, Settings.MaxChannels);
    }

    public AmqpPublisherSettings Settings { get; }

    /// <param name="exchange">"" is the default exchange, which routes by queue name.</param>
    /// <param name="properties">Not copied: do not change it until the returned task completes.</param>
    /// <param name="mandatory">Fail (instead of silently dropping) when no queue is bound for the routing key.</param>
    /// <exception cref="TimeoutException">not confirmed within <see cref="AmqpPublisherSettings.PublishTimeout"/>.</exception>
    public async Task PublishAsync(string exchange, string routingKey, ReadOnlyMemory<byte> body, BasicProperties? properties = null,
        bool mandatory = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(exchange);
        ArgumentNullException.ThrowIfNull(routingKey);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _isDisposed) != 0, this);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        deadline.CancelAfter(Settings.PublishTimeout);
        var token = deadline.Token;
        var slotTaken = false;
        IChannel? channel = null;
        try
        {
            await _slots.WaitAsync(token).ConfigureAwait(false);
            slotTaken = true;
            channel = await RentAsync(token).ConfigureAwait(false);
            await channel.BasicPublishAsync(exchange, routingKey, mandatory, properties ?? new BasicProperties(), body, token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && !_disposed.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"Publishing to exchange '{exchange}' with routing key '{routingKey}' was not confirmed within {Settings.PublishTimeout}.", e);
        }
        catch (OperationCanceledException e) when (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException($"The publisher was disposed while publishing to exchange '{exchange}'.", e);
        }
        finally
        {
            if (channel is not null) await ReturnAsync(channel).ConfigureAwait(false);
            if (slotTaken) _slots.Release();
        }
    }

    public Task PublishAsync(WriteMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return PublishAsync(message.Exchange, message.RoutingKey, message.Body, message.Properties, message.Mandatory, cancellationToken);
    }

    private async Task<IChannel> RentAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_idle.TryDequeue(out var idle))
            {
                while (!idle.IsOpen && WillReopen(idle))
                    await Task.Delay(RecoveryPollInterval, cancellationToken).ConfigureAwait(false);
                if (idle.IsOpen) return idle;
                await DisposeQuietlyAsync(idle).ConfigureAwait(false);
                continue;
            }

            try
            {
                return await OpenChannelAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && _provider.IsRecovering)
            {
                // the shared connection is down and being recovered: try again shortly
                await Task.Delay(RecoveryPollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<IChannel> OpenChannelAsync(CancellationToken cancellationToken)
    {
        var channel = await _provider.CreateChannelAsync(ConfirmedChannel, cancellationToken).ConfigureAwait(false);
        try
        {
            await AmqpDeclaration.DeclareAllAsync(channel, Settings.Declarations, cancellationToken).ConfigureAwait(false);
            return channel;
        }
        catch
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A channel closed by a connection failure comes back with the connection; one the application closed or the
    /// broker closed for a channel-level error (403/404/405/406) is dead.
    /// </summary>
    private bool WillReopen(IChannel channel) =>
        _provider.Settings.AutomaticRecoveryEnabled
        && channel.CloseReason is { } reason
        && reason.Initiator != ShutdownInitiator.Application
        && reason.ReplyCode is not (Constants.AccessRefused or Constants.NotFound or Constants.ResourceLocked or Constants.PreconditionFailed);

    private async ValueTask ReturnAsync(IChannel channel)
    {
        if (Volatile.Read(ref _isDisposed) != 0)
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
        else
            _idle.Enqueue(channel);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _isDisposed, 1) != 0) return;
        await _disposed.CancelAsync().ConfigureAwait(false);
        while (_idle.TryDequeue(out var channel))
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
        // publishes still running dispose their channel when they return it
    }

    private static async ValueTask DisposeQuietlyAsync(IChannel channel)
    {
        try
        {
            if (channel.IsOpen) await channel.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // closing a broken channel
        }
        try
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // already disposed
        }
    }

    public override string ToString() => $"AmqpPublisher({Settings}, {_provider.Settings})";
}

/// <summary>A message for <see cref="AmqpPublisher"/>, <see cref="Dsl.AmqpSink"/> and <see cref="Dsl.AmqpFlow"/>.</summary>
/// <param name="Exchange">"" is the default exchange, which routes by queue name.</param>
/// <param name="Properties">Not copied: do not change it after handing the message over.</param>
public sealed record WriteMessage(string Exchange, string RoutingKey, ReadOnlyMemory<byte> Body, BasicProperties? Properties = null, bool Mandatory = false)
{
    /// <summary>To a queue, through the default exchange.</summary>
    public static WriteMessage ToQueue(string queue, ReadOnlyMemory<byte> body, BasicProperties? properties = null) =>
        new("", queue, body, properties, Mandatory: true);
}
