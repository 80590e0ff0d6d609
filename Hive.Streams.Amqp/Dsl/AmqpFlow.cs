using Akka;
using Akka.Streams.Dsl;

namespace Hive.Streams.Amqp.Dsl;

public static class AmqpFlow
{
    /// <summary>
    /// Publishes each message with a publisher confirm and emits it, in order, once confirmed; a nack, return or
    /// timeout fails the stream. <paramref name="parallelism"/> publishes are in flight at once (bounded also by the
    /// publisher's <see cref="AmqpPublisherSettings.MaxChannels"/>).
    /// </summary>
    public static Flow<WriteMessage, WriteMessage, NotUsed> Create(AmqpPublisher publisher, int parallelism = 1)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        return Flow.Create<WriteMessage>().SelectAsync(parallelism, async message =>
        {
            await publisher.PublishAsync(message).ConfigureAwait(false);
            return message;
        });
    }

    /// <summary>
    /// Like <see cref="Create"/>, but emits the pass-through once its message is confirmed, e.g. the
    /// <see cref="CommittableIncomingMessage"/> to acknowledge after a result was safely published.
    /// </summary>
    public static Flow<(WriteMessage Message, TPassThrough PassThrough), TPassThrough, NotUsed> WithPassThrough<TPassThrough>(
        AmqpPublisher publisher, int parallelism = 1)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        return Flow.Create<(WriteMessage Message, TPassThrough PassThrough)>().SelectAsync(parallelism, async pair =>
        {
            await publisher.PublishAsync(pair.Message).ConfigureAwait(false);
            return pair.PassThrough;
        });
    }
}
