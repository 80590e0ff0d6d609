using RabbitMQ.Client;

namespace Hive.Streams.Amqp;

/// <summary>Delivery metadata. <see cref="DeliveryTag"/> is only meaningful on the channel of the source that received it.</summary>
public sealed record Envelope(ulong DeliveryTag, bool Redelivered, string Exchange, string RoutingKey);

/// <summary>
/// A delivered message. <see cref="Body"/> is a copy owned by this object (RabbitMQ.Client 7 reuses the delivery
/// buffer once the delivery callback returns); <see cref="Properties"/> is the client's parsed, read-only snapshot.
/// </summary>
public sealed record IncomingMessage(ReadOnlyMemory<byte> Body, Envelope Envelope, IReadOnlyBasicProperties Properties);

/// <summary>
/// A delivery that must be settled with <see cref="Ack"/> or <see cref="Nack"/> through the source that emitted it.
/// Both go to the source's own channel (delivery tags are channel-scoped) and complete once the frame was handed
/// to the connection. They fail with:
/// <list type="bullet">
/// <item><see cref="AmqpSourceStoppedException"/> when the source has stopped (its channel is closed and the broker requeued the message);</item>
/// <item><see cref="AmqpDeliveryLostException"/> when the connection was lost and recovered since this delivery (the broker requeued it);</item>
/// <item><see cref="InvalidOperationException"/> when the delivery was already settled.</item>
/// </list>
/// </summary>
public sealed class CommittableIncomingMessage
{
    private readonly IDeliverySettler _settler;
    private readonly int _incarnation;

    internal CommittableIncomingMessage(IncomingMessage message, IDeliverySettler settler, int incarnation)
    {
        Message = message;
        _settler = settler;
        _incarnation = incarnation;
    }

    public IncomingMessage Message { get; }

    /// <summary>Acknowledges this delivery; with <paramref name="multiple"/> also every earlier unsettled delivery of the source.</summary>
    public Task Ack(bool multiple = false) =>
        _settler.Settle(new SettleRequest(Message.Envelope.DeliveryTag, _incarnation, SettleKind.Ack, multiple, Requeue: false));

    /// <summary>
    /// Rejects this delivery (and with <paramref name="multiple"/> every earlier unsettled one). With
    /// <paramref name="requeue"/> the broker redelivers it (<see cref="Envelope.Redelivered"/> = true); without, it is
    /// dead-lettered if the queue has a dead-letter exchange, else dropped.
    /// </summary>
    public Task Nack(bool multiple = false, bool requeue = true) =>
        _settler.Settle(new SettleRequest(Message.Envelope.DeliveryTag, _incarnation, SettleKind.Nack, multiple, requeue));

    public override string ToString() => $"CommittableIncomingMessage({Message.Envelope}, {Message.Body.Length} bytes)";
}

/// <summary>The acknowledgement was issued after the source stopped; the broker requeued the delivery when the channel closed.</summary>
public sealed class AmqpSourceStoppedException(string message) : Exception(message);

/// <summary>
/// The delivery was received on a channel incarnation lost to a connection failure; the broker requeued it and will
/// redeliver it on the recovered channel, so it can no longer be acknowledged.
/// </summary>
public sealed class AmqpDeliveryLostException(string message) : Exception(message);

/// <summary>The AMQP source failed (channel closed by the broker, consumer cancelled, connection lost without recovery).</summary>
public sealed class AmqpSourceException(string message, Exception? innerException = null) : Exception(message, innerException);

internal enum SettleKind { Ack, Nack }

internal readonly record struct SettleRequest(ulong DeliveryTag, int Incarnation, SettleKind Kind, bool Multiple, bool Requeue);

internal interface IDeliverySettler
{
    Task Settle(SettleRequest request);
}
