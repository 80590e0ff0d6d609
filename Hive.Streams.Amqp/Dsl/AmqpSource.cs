using Akka;
using Akka.Streams.Dsl;

namespace Hive.Streams.Amqp.Dsl;

public static class AmqpSource
{
    /// <summary>
    /// An at-least-once source: every element must be settled with <see cref="CommittableIncomingMessage.Ack"/> or
    /// <see cref="CommittableIncomingMessage.Nack"/>; unsettled deliveries return to the queue when the source stops.
    /// <paramref name="bufferSize"/> is both the channel's prefetch and the most deliveries the stage holds, so the
    /// broker hands this node no more messages than downstream can take.
    /// </summary>
    public static Source<CommittableIncomingMessage, NotUsed> CommittableSource(AmqpSourceSettings settings, int bufferSize) =>
        Source.FromGraph(new AmqpSourceStage(settings, bufferSize));
}
