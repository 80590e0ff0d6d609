using System.Text;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Streams.Amqp;
using RabbitMQ.Client;

namespace Hive.Actors.Messaging;

/// <summary><see cref="IHiveBus"/> over one confirming <see cref="AmqpPublisher"/>.</summary>
public sealed class RabbitHiveBus : IHiveBus
{
    public const string ReasonHeader = "x-hive-reason";
    public const string RequeuedHeader = "x-hive-requeued";
    private readonly AmqpPublisher _publisher;
    private readonly HiveSettings _settings;

    public RabbitHiveBus(AmqpPublisher publisher, HiveSettings settings)
    {
        _publisher = publisher;
        _settings = settings;
    }

    public Task PublishTaskAsync(TaskSpec spec, CancellationToken ct = default) => PublishTaskAsync(spec, requeued: false, ct);

    public Task RequeueTaskAsync(TaskSpec spec, CancellationToken ct = default) => PublishTaskAsync(spec, requeued: true, ct);

    private Task PublishTaskAsync(TaskSpec spec, bool requeued, CancellationToken ct)
    {
        var props = new BasicProperties
        {
            Persistent = true, ContentType = "application/json", MessageId = spec.TaskId, CorrelationId = spec.TaskId, ReplyTo = spec.ReplyTo,
            Headers = requeued ? new Dictionary<string, object?> { [RequeuedHeader] = true } : null,
        };
        return _publisher.PublishAsync("", spec.Queue ?? _settings.TaskQueue, TaskParser.Serialize(spec), props, cancellationToken: ct);
    }

    public async Task PublishResultAsync(TaskResult result, string? replyTo, string? correlationId, CancellationToken ct = default)
    {
        var body = ResultMessages.ToJson(result);
        var props = new BasicProperties
        {
            Persistent = true, ContentType = "application/json", CorrelationId = correlationId ?? result.TaskId, MessageId = $"{result.TaskId}:{result.Attempt}:result",
            Type = "hive.result",
        };
        await _publisher.PublishAsync(_settings.ResultsExchange, result.Script ?? "unknown", body, props, cancellationToken: ct);
        if (!string.IsNullOrEmpty(replyTo))
            await _publisher.PublishAsync("", replyTo, body, props, cancellationToken: ct);
    }

    public Task DeadLetterAsync(ReadOnlyMemory<byte> body, string reason, IReadOnlyDictionary<string, object?>? originalHeaders, string? messageId, string? correlationId, CancellationToken ct = default)
    {
        var headers = originalHeaders is null ? new Dictionary<string, object?>() : new Dictionary<string, object?>(originalHeaders);
        headers[ReasonHeader] = Encoding.UTF8.GetBytes(reason);
        headers["x-hive-dead-lettered-at"] = Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O"));
        var props = new BasicProperties { Persistent = true, Headers = headers, MessageId = messageId, CorrelationId = correlationId };
        return _publisher.PublishAsync("", _settings.DeadLetterQueue, body, props, cancellationToken: ct);
    }

    public Task PublishControlAsync(ControlCommand command, CancellationToken ct = default) =>
        _publisher.PublishAsync(_settings.ControlExchange, "", ControlParser.Serialize(command), new BasicProperties { ContentType = "application/json" }, cancellationToken: ct);
}
