using Akka.Event;
using Akka.Streams;
using Akka.Streams.Stage;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Hive.Streams.Amqp;

/// <summary>
/// Consumes a queue with manual acknowledgement and emits <see cref="CommittableIncomingMessage"/>s.
/// <para>
/// Backpressure: the channel's prefetch (<c>basic.qos</c>, per consumer, not global) equals <see cref="BufferSize"/>,
/// so the broker never has more than <see cref="BufferSize"/> unsettled deliveries out on this channel, and the
/// stage never buffers more than that.
/// </para>
/// <para>
/// Lifecycle: the channel is opened on the provider's shared connection asynchronously after materialization
/// (nothing blocks in <c>PreStart</c>); every broker event reaches the stage through <c>GetAsyncCallback</c>. When
/// downstream cancels, the consumer is cancelled, buffered deliveries are requeued, and the channel stays open until
/// the emitted deliveries are settled or <see cref="AmqpSourceSettings.DrainTimeout"/> elapses. When the stage stops,
/// settlements not yet sent fail with <see cref="AmqpSourceStoppedException"/> and the channel is closed (the broker
/// requeues whatever is unacknowledged).
/// </para>
/// <para>
/// Connection loss: with automatic (topology) recovery the client re-opens the channel, re-applies the prefetch and
/// re-registers the consumer, and the stream keeps delivering. Deliveries received before the loss are void (the broker
/// requeued them): buffered ones are dropped and settling an emitted one fails with <see cref="AmqpDeliveryLostException"/>.
/// </para>
/// </summary>
public sealed class AmqpSourceStage : GraphStage<SourceShape<CommittableIncomingMessage>>
{
    /// <summary>
    /// No dispatcher attribute: RabbitMQ.Client 7 is async-only and the stage awaits nothing on its own thread, so
    /// unlike Alpakka's stages (blocking client 5/6 calls) it does not need the blocking-IO dispatcher.
    /// </summary>
    public static readonly Attributes DefaultAttributes = Attributes.CreateName("AmqpSource");

    public AmqpSourceStage(AmqpSourceSettings settings, int bufferSize)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bufferSize, (int)ushort.MaxValue);
        Settings = settings;
        BufferSize = bufferSize;
        Shape = new SourceShape<CommittableIncomingMessage>(Out);
    }

    public AmqpSourceSettings Settings { get; }

    /// <summary>Prefetch and the maximum number of buffered deliveries.</summary>
    public int BufferSize { get; }

    public Outlet<CommittableIncomingMessage> Out { get; } = new("AmqpSource.out");

    public override SourceShape<CommittableIncomingMessage> Shape { get; }

    protected override Attributes InitialAttributes => DefaultAttributes;

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    public override string ToString() => "AmqpSource";

    private sealed record ChannelOpened(IChannel Channel, string Queue);

    private sealed record ChannelLost(ShutdownEventArgs Reason, bool WillRecover);

    private sealed record SettleCommand(SettleRequest Request, TaskCompletionSource? Promise);

    private sealed class Logic : TimerGraphStageLogic, IDeliverySettler
    {
        private const string DrainTimerKey = "drain";
        private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

        private readonly AmqpSourceStage _stage;
        private readonly string _consumerTag;
        private readonly Queue<IncomingMessage> _buffer = new();
        // emitted and not yet settled, by delivery tag (tags grow monotonically, also across recoveries)
        private readonly SortedSet<ulong> _unsettled = new();
        private readonly CancellationTokenSource _stopping = new();

        // settlements requested but not yet handed to the channel; shared with callers on other threads
        private readonly object _pendingLock = new();
        private readonly HashSet<TaskCompletionSource> _pending = new();
        private volatile bool _stopped;

        private Action<SettleCommand> _onSettle = null!;
        private Task<SetupResult>? _setup;
        private IChannel? _channel;
        private string? _queue;
        private Task _settleChain = Task.CompletedTask;
        private int _incarnation;
        private bool _draining;
        private bool _consumerCancelled;

        public Logic(AmqpSourceStage stage) : base(stage.Shape)
        {
            _stage = stage;
            _consumerTag = stage.Settings.ConsumerTag.Length > 0 ? stage.Settings.ConsumerTag : $"hive-{Guid.NewGuid():N}";
            SetHandler(stage.Out, onPull: OnPull, onDownstreamFinish: OnDownstreamFinish);
        }

        public override void PreStart()
        {
            _onSettle = GetAsyncCallback<SettleCommand>(HandleSettle);
            var onOpened = GetAsyncCallback<ChannelOpened>(opened =>
            {
                _channel = opened.Channel;
                _queue = opened.Queue;
            });
            var onDelivery = GetAsyncCallback<IncomingMessage>(HandleDelivery);
            var onLost = GetAsyncCallback<ChannelLost>(HandleChannelLost);
            var onCancelled = GetAsyncCallback(() =>
                FailStage(new AmqpSourceException($"The broker cancelled consumer '{_consumerTag}' of queue '{_queue}' (queue deleted?).")));
            var onRecovered = GetAsyncCallback(() =>
                Log.Info("AMQP consumer {0} on queue {1} recovered after a connection loss", _consumerTag, _queue));
            var onFailed = GetAsyncCallback<Exception>(e =>
                FailStage(new AmqpSourceException($"Could not start consuming ({_stage.Settings}): {e.Message}", e)));

            var onRenamed = GetAsyncCallback<string>(queue =>
            {
                Log.Info("AMQP consumer {0} moved from recovered server-named queue {1} to {2}", _consumerTag, _queue, queue);
                _queue = queue;
            });
            var callbacks = new ConsumerCallbacks(this, onDelivery, onLost, onCancelled, onRenamed);
            // connecting, declaring and consuming all happen off the stage thread; the stage hears back via callbacks
            var stopping = _stopping.Token;
            _setup = Task.Run(() => SetupAsync(onOpened, onRecovered, callbacks, stopping), stopping);
            _setup.ContinueWith(t => onFailed(t.Exception!.GetBaseException()), CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        /// <summary>Runs off the stage: touches no stage state, reports through the callbacks.</summary>
        private async Task<SetupResult> SetupAsync(Action<ChannelOpened> onOpened, Action onRecovered, ConsumerCallbacks callbacks,
            CancellationToken cancellationToken)
        {
            var settings = _stage.Settings;
            var channel = await settings.ConnectionProvider.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            ConnectionHooks? hooks = null;
            try
            {
                await channel.BasicQosAsync(0, (ushort)_stage.BufferSize, global: false, cancellationToken).ConfigureAwait(false);
                await AmqpDeclaration.DeclareAllAsync(channel, settings.Declarations, cancellationToken).ConfigureAwait(false);

                string queue;
                var exclusive = false;
                Dictionary<string, object?>? arguments = null;
                switch (settings)
                {
                    case NamedQueueSourceSettings named:
                        queue = named.Queue;
                        exclusive = named.ExclusiveConsumer;
                        arguments = named.ConsumerArguments.Count > 0 ? new Dictionary<string, object?>(named.ConsumerArguments) : null;
                        break;
                    case TemporaryQueueSourceSettings temporary:
                        var declared = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true,
                            cancellationToken: cancellationToken).ConfigureAwait(false);
                        queue = declared.QueueName;
                        await channel.QueueBindAsync(queue, temporary.Exchange, temporary.RoutingKey,
                            cancellationToken: cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        throw new NotSupportedException($"Unknown source settings {settings.GetType().Name}.");
                }

                // reaches the stage before any delivery: deliveries only start after basic.consume below
                onOpened(new ChannelOpened(channel, queue));
                hooks = new ConnectionHooks(await settings.ConnectionProvider.GetConnectionAsync(cancellationToken).ConfigureAwait(false),
                    queue, callbacks, onRecovered);
                await channel.BasicConsumeAsync(queue, autoAck: false, _consumerTag, noLocal: false, exclusive, arguments,
                    new Consumer(channel, settings.ConnectionProvider, callbacks), cancellationToken).ConfigureAwait(false);
                return new SetupResult(channel, hooks);
            }
            catch
            {
                hooks?.Dispose();
                await CloseQuietlyAsync(channel).ConfigureAwait(false);
                throw;
            }
        }

        private void OnPull()
        {
            if (_buffer.TryDequeue(out var message)) Emit(message);
        }

        private void HandleDelivery(IncomingMessage message)
        {
            if (_draining)
            {
                // arrived after the consumer was cancelled: give it straight back
                Send(new SettleCommand(new SettleRequest(message.Envelope.DeliveryTag, _incarnation, SettleKind.Nack, false, true), null));
                return;
            }
            if (IsAvailable(_stage.Out))
            {
                Emit(message);
            }
            else if (_buffer.Count < _stage.BufferSize)
            {
                _buffer.Enqueue(message);
            }
            else
            {
                FailStage(new AmqpSourceException(
                    $"More than {_stage.BufferSize} deliveries buffered on queue '{_queue}': the broker did not honour the prefetch."));
            }
        }

        private void Emit(IncomingMessage message)
        {
            _unsettled.Add(message.Envelope.DeliveryTag);
            Push(_stage.Out, new CommittableIncomingMessage(message, this, _incarnation));
        }

        /// <summary>Called by <see cref="CommittableIncomingMessage"/> on any thread.</summary>
        public Task Settle(SettleRequest request)
        {
            var promise = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_pendingLock)
            {
                if (_stopped) return Task.FromException(Stopped(request));
                _pending.Add(promise);
            }
            _onSettle(new SettleCommand(request, promise));
            return promise.Task;
        }

        private void HandleSettle(SettleCommand command)
        {
            var request = command.Request;
            if (request.Incarnation != _incarnation)
            {
                Fail(command.Promise, new AmqpDeliveryLostException(
                    $"Delivery {request.DeliveryTag} of queue '{_queue}' was received before the connection was lost; " +
                    "the broker requeued it and will deliver it again."));
                return;
            }

            ulong tag;
            if (request.Multiple)
            {
                if (_unsettled.Count == 0 || _unsettled.Min > request.DeliveryTag)
                {
                    Fail(command.Promise, new InvalidOperationException(
                        $"No unsettled delivery up to tag {request.DeliveryTag} on queue '{_queue}': already acknowledged or rejected."));
                    return;
                }
                var covered = _unsettled.GetViewBetween(_unsettled.Min, request.DeliveryTag);
                tag = covered.Max; // a tag the broker still knows, even when the requested one was settled already
                covered.Clear();
            }
            else if (_unsettled.Remove(request.DeliveryTag))
            {
                tag = request.DeliveryTag;
            }
            else
            {
                // sending it would make the broker close the channel (PRECONDITION_FAILED - unknown delivery tag)
                Fail(command.Promise, new InvalidOperationException(
                    $"Delivery {request.DeliveryTag} of queue '{_queue}' was already acknowledged or rejected."));
                return;
            }

            Send(command with { Request = request with { DeliveryTag = tag } });
            if (_draining && _unsettled.Count == 0) CompleteStage();
        }

        /// <summary>Hands a settlement to the channel, after every earlier one (acks must not overtake each other).</summary>
        private void Send(SettleCommand command)
        {
            if (command.Promise is not null)
                lock (_pendingLock) _pending.Remove(command.Promise);
            _settleChain = SendAsync(_settleChain, _channel!, command);
        }

        private static async Task SendAsync(Task previous, IChannel channel, SettleCommand command)
        {
            await previous.ConfigureAwait(false); // never faults, see below
            var request = command.Request;
            try
            {
                if (request.Kind == SettleKind.Ack)
                    await channel.BasicAckAsync(request.DeliveryTag, request.Multiple, CancellationToken.None).ConfigureAwait(false);
                else
                    await channel.BasicNackAsync(request.DeliveryTag, request.Multiple, request.Requeue, CancellationToken.None).ConfigureAwait(false);
                // completed right here rather than through a stage callback: the stage's bookkeeping was done when the
                // settlement was issued, and a callback would be lost if the stage stopped meanwhile
                command.Promise?.TrySetResult();
            }
            catch (Exception e)
            {
                command.Promise?.TrySetException(new AmqpSourceException(
                    $"Could not {request.Kind.ToString().ToLowerInvariant()} delivery {request.DeliveryTag}: {e.Message}", e));
            }
        }

        private void Fail(TaskCompletionSource? promise, Exception error)
        {
            if (promise is null) return;
            lock (_pendingLock) _pending.Remove(promise);
            promise.TrySetException(error);
        }

        private void HandleChannelLost(ChannelLost lost)
        {
            if (!lost.WillRecover)
            {
                FailStage(new AmqpSourceException($"The AMQP channel consuming queue '{_queue}' closed: {lost.Reason}"));
                return;
            }
            Log.Warning("AMQP connection lost ({0}); consumer {1} on queue {2} waits for automatic recovery, " +
                        "{3} buffered and {4} emitted deliveries were requeued by the broker",
                lost.Reason.ReplyText, _consumerTag, _queue, _buffer.Count, _unsettled.Count);
            _incarnation++;
            _buffer.Clear();
            _unsettled.Clear();
            if (_draining) CompleteStage();
        }

        private void OnDownstreamFinish(Exception cause)
        {
            _draining = true;
            if (_unsettled.Count == 0 || _channel is null)
            {
                CompleteStage();
                return;
            }
            SetKeepGoing(true);
            _consumerCancelled = true;
            _settleChain = CancelConsumerAsync(_settleChain, _channel, _consumerTag, Log);
            while (_buffer.TryDequeue(out var buffered))
                Send(new SettleCommand(new SettleRequest(buffered.Envelope.DeliveryTag, _incarnation, SettleKind.Nack, false, true), null));
            ScheduleOnce(DrainTimerKey, _stage.Settings.DrainTimeout);
        }

        private static async Task CancelConsumerAsync(Task previous, IChannel channel, string consumerTag, ILoggingAdapter log)
        {
            await previous.ConfigureAwait(false);
            try
            {
                using var timeout = new CancellationTokenSource(CloseTimeout);
                await channel.BasicCancelAsync(consumerTag, noWait: false, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                log.Warning("Could not cancel AMQP consumer {0}: {1}", consumerTag, e.Message);
            }
        }

        protected override void OnTimer(object timerKey)
        {
            Log.Warning("{0} deliveries of queue {1} were not settled within {2} after downstream cancelled; the broker requeues them",
                _unsettled.Count, _queue, _stage.Settings.DrainTimeout);
            CompleteStage();
        }

        public override void PostStop()
        {
            List<TaskCompletionSource> orphans;
            lock (_pendingLock)
            {
                _stopped = true;
                orphans = [.. _pending];
                _pending.Clear();
            }
            foreach (var promise in orphans)
                promise.TrySetException(new AmqpSourceStoppedException(
                    $"The AMQP source on queue '{_queue}' stopped before the settlement was sent; the broker requeues the delivery."));

            _stopping.Cancel();
            if (_setup is not null)
                _ = ShutdownAsync(_setup, _settleChain, _consumerCancelled ? null : _consumerTag,
                    _stage.Settings is TemporaryQueueSourceSettings ? _queue : null, _stopping, Log);
            else
                _stopping.Dispose();
            base.PostStop();
        }

        private static async Task ShutdownAsync(Task<SetupResult> setup, Task settleChain, string? consumerTag, string? temporaryQueue,
            CancellationTokenSource stopping, ILoggingAdapter log)
        {
            IChannel channel;
            try
            {
                var result = await setup.ConfigureAwait(false);
                result.Hooks.Dispose();
                channel = result.Channel;
            }
            catch
            {
                return; // the setup closed its channel itself
            }
            finally
            {
                stopping.Dispose();
            }

            try
            {
                await settleChain.ConfigureAwait(false); // issued acks reach the wire before the channel closes
                using var timeout = new CancellationTokenSource(CloseTimeout);
                if (channel.IsOpen)
                {
                    // cancelling explicitly (not only closing) also drops the consumer, and deleting the temporary
                    // queue drops it and its binding, from the connection's recovery records
                    if (consumerTag is not null)
                        await channel.BasicCancelAsync(consumerTag, noWait: false, timeout.Token).ConfigureAwait(false);
                    if (temporaryQueue is not null)
                        await channel.QueueDeleteAsync(temporaryQueue, ifUnused: false, ifEmpty: false, cancellationToken: timeout.Token)
                            .ConfigureAwait(false);
                    await channel.CloseAsync(timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                log.Debug("Closing the AMQP source channel failed: {0}", e.Message);
            }
            finally
            {
                await CloseQuietlyAsync(channel).ConfigureAwait(false);
            }
        }

        private static async Task CloseQuietlyAsync(IChannel channel)
        {
            try
            {
                await channel.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // already closed or the connection is gone
            }
        }

        private static AmqpSourceStoppedException Stopped(SettleRequest request) =>
            new($"The AMQP source that received delivery {request.DeliveryTag} has stopped; its channel is closed and the broker requeued the delivery.");

        /// <summary>What the consumer (on the client's dispatcher thread) may call.</summary>
        private sealed record ConsumerCallbacks(
            Logic Logic, Action<IncomingMessage> OnDelivery, Action<ChannelLost> OnLost, Action OnCancelled, Action<string> OnQueueRenamed);

        private sealed record SetupResult(IChannel Channel, ConnectionHooks Hooks);

        /// <summary>Connection-level recovery events of interest to one source; unsubscribed when the source stops.</summary>
        private sealed class ConnectionHooks : IDisposable
        {
            private readonly IConnection _connection;
            private readonly ConsumerCallbacks _callbacks;
            private readonly Action _onRecovered;
            private string _queue;

            public ConnectionHooks(IConnection connection, string queue, ConsumerCallbacks callbacks, Action onRecovered)
            {
                _connection = connection;
                _queue = queue;
                _callbacks = callbacks;
                _onRecovered = onRecovered;
                connection.RecoverySucceededAsync += OnRecoverySucceeded;
                connection.QueueNameChangedAfterRecoveryAsync += OnQueueNameChanged;
            }

            private Task OnRecoverySucceeded(object sender, AsyncEventArgs args)
            {
                if (!_callbacks.Logic._stopped) _onRecovered();
                return Task.CompletedTask;
            }

            private Task OnQueueNameChanged(object sender, QueueNameChangedAfterRecoveryEventArgs args)
            {
                // a server-named (temporary) queue comes back under a new name
                if (args.NameBefore == _queue)
                {
                    _queue = args.NameAfter;
                    if (!_callbacks.Logic._stopped) _callbacks.OnQueueRenamed(args.NameAfter);
                }
                return Task.CompletedTask;
            }

            public void Dispose()
            {
                _connection.RecoverySucceededAsync -= OnRecoverySucceeded;
                _connection.QueueNameChangedAfterRecoveryAsync -= OnQueueNameChanged;
            }
        }

        private sealed class Consumer(IChannel channel, AmqpConnectionProvider provider, ConsumerCallbacks callbacks)
            : AsyncDefaultBasicConsumer(channel)
        {
            public override Task HandleBasicDeliverAsync(string consumerTag, ulong deliveryTag, bool redelivered, string exchange,
                string routingKey, IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
            {
                if (callbacks.Logic._stopped) return Task.CompletedTask; // the channel closes; the broker requeues it
                // the body memory belongs to the client and is reused once this method returns: copy it
                var message = new IncomingMessage(
                    body.ToArray(),
                    new Envelope(deliveryTag, redelivered, exchange, routingKey),
                    properties is ReadOnlyBasicProperties ? properties : new BasicProperties(properties));
                callbacks.OnDelivery(message);
                return Task.CompletedTask;
            }

            public override async Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
            {
                await base.HandleBasicCancelAsync(consumerTag, cancellationToken).ConfigureAwait(false);
                if (!callbacks.Logic._stopped) callbacks.OnCancelled();
            }

            public override async Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason)
            {
                await base.HandleChannelShutdownAsync(channel, reason).ConfigureAwait(false);
                // decided here, on the client's thread, while the connection state still describes this shutdown
                if (!callbacks.Logic._stopped)
                    callbacks.OnLost(new ChannelLost(reason, provider.Settings.RecoversConsumers && provider.IsRecovering));
            }
        }
    }
}
