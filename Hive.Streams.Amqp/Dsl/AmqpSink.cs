using Akka;
using Akka.Streams.Dsl;

namespace Hive.Streams.Amqp.Dsl;

public static class AmqpSink
{
    /// <summary>
    /// Publishes with confirms through a publisher the caller owns (and disposes); the task completes when every
    /// message was confirmed and fails with the first failed publish. <paramref name="parallelism"/> publishes are in
    /// flight at once, bounded also by the publisher's <see cref="AmqpPublisherSettings.MaxChannels"/>.
    /// </summary>
    public static Sink<WriteMessage, Task<Done>> Create(AmqpPublisher publisher, int parallelism = 1) =>
        AmqpFlow.Create(publisher, parallelism).ToMaterialized(Sink.Ignore<WriteMessage>(), Keep.Right);
}
