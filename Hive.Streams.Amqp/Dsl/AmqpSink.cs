using Akka;
using Akka.Streams.Dsl;

namespace Hive.Streams.Amqp.Dsl;

public static class AmqpSink
{
    /// <summary>
    /// Publishes with confirms through a publisher the caller owns; the task completes when every message was
    /// confirmed and fails with the first failed publish.
    /// </summary>
    public static Sink<WriteMessage, Task<Done>> Create(AmqpPublisher publisher, int parallelism = 1) =>
        AmqpFlow.Create(publisher, parallelism).ToMaterialized(Sink.Ignore<WriteMessage>(), Keep.Right);

    /// <summary>
    /// Publishes with confirms through a publisher of its own (channels on the provider's shared connection), created
    /// per materialization and disposed before the task completes.
    /// </summary>
    public static Sink<WriteMessage, Task<Done>> Create(AmqpConnectionProvider provider, AmqpPublisherSettings settings, int parallelism = 1)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        return Flow.Setup<WriteMessage, WriteMessage, Task<Done>>((_, _) =>
            {
                var publisher = new AmqpPublisher(provider, settings);
                return AmqpFlow.Create(publisher, parallelism)
                    .WatchTermination((_, termination) => DisposeAfterAsync(termination, publisher));
            })
            .ToMaterialized(Sink.Ignore<WriteMessage>(), Keep.Left)
            .MapMaterializedValue(setup => setup.Unwrap());
    }

    private static async Task<Done> DisposeAfterAsync(Task<Done> termination, AmqpPublisher publisher)
    {
        try
        {
            return await termination.ConfigureAwait(false);
        }
        finally
        {
            await publisher.DisposeAsync().ConfigureAwait(false);
        }
    }
}
