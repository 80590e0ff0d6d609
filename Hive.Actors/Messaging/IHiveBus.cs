using Hive.Actors.Contracts;

namespace Hive.Actors.Messaging;

/// <summary>Everything Hive publishes to RabbitMQ, with publisher confirms: a completed task means the broker has it.</summary>
public interface IHiveBus
{
    /// <summary>Puts a task (back) on the task queue as a persistent message.</summary>
    Task PublishTaskAsync(TaskSpec spec, CancellationToken ct = default);

    /// <summary>
    /// Puts a task that was accepted before back on its queue (a retry, a lost node, a hand-back), marked with
    /// <c>x-hive-requeued</c>: its args are not checked again against a manifest schema that may have changed since.
    /// </summary>
    Task RequeueTaskAsync(TaskSpec spec, CancellationToken ct = default);

    /// <summary>Publishes a result to the results exchange (routing key = script) and to the task's reply-to.</summary>
    Task PublishResultAsync(TaskResult result, string? replyTo, string? correlationId, CancellationToken ct = default);

    /// <summary>Moves a malformed message to the dead-letter queue with the reason in header x-hive-reason.</summary>
    Task DeadLetterAsync(ReadOnlyMemory<byte> body, string reason, IReadOnlyDictionary<string, object?>? originalHeaders, string? messageId, string? correlationId, CancellationToken ct = default);

    /// <summary>Broadcasts a control command to every node.</summary>
    Task PublishControlAsync(ControlCommand command, CancellationToken ct = default);
}
