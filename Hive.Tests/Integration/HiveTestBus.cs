using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using StackExchange.Redis;

namespace Hive.Tests.Integration;

/// <summary>
/// What a backend sees: publishes tasks and control messages, collects results from hive.results,
/// reads hive:task:&lt;id&gt; from Redis and the dead-letter queue.
/// </summary>
public sealed class HiveTestBus : IAsyncDisposable
{
    public const string TaskQueue = "hive.tasks";
    public const string DeadLetterQueue = "hive.tasks.dead";
    private IConnection _connection = null!;
    private IChannel _channel = null!;
    private ConnectionMultiplexer _redis = null!;

    public ConcurrentQueue<(BasicDeliverEventArgs Delivery, TaskResult Result)> Results { get; } = new();

    public IDatabase Redis => _redis.GetDatabase();

    public static async Task<HiveTestBus> ConnectAsync(BrokersFixture brokers)
    {
        var bus = new HiveTestBus();
        bus._connection = await new ConnectionFactory { Uri = new Uri(brokers.Rabbit.Uri) }.CreateConnectionAsync();
        bus._channel = await bus._connection.CreateChannelAsync();
        await bus._channel.QueueDeclareAsync(TaskQueue, durable: true, exclusive: false, autoDelete: false);
        await bus._channel.QueueDeclareAsync(DeadLetterQueue, durable: true, exclusive: false, autoDelete: false);
        await bus._channel.ExchangeDeclareAsync("hive.results", ExchangeType.Topic, durable: true);
        await bus._channel.ExchangeDeclareAsync("hive.control", ExchangeType.Fanout, durable: true);
        var results = await bus._channel.QueueDeclareAsync("", exclusive: true);
        await bus._channel.QueueBindAsync(results.QueueName, "hive.results", "#");
        var consumer = new AsyncEventingBasicConsumer(bus._channel);
        consumer.ReceivedAsync += (_, e) =>
        {
            var result = ResultMessages.FromJson(e.Body.Span);
            if (result is not null) bus.Results.Enqueue((e, result));
            return Task.CompletedTask;
        };
        await bus._channel.BasicConsumeAsync(results.QueueName, autoAck: true, consumer);
        bus._redis = await ConnectionMultiplexer.ConnectAsync(brokers.Redis.ConnectionString);
        return bus;
    }

    public static string NewId(string prefix = "t") => $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}";

    public Task PublishTaskAsync(object task, BasicProperties? props = null) =>
        PublishRawAsync(JsonSerializer.SerializeToUtf8Bytes(task), props);

    public async Task PublishRawAsync(byte[] body, BasicProperties? props = null, string queue = TaskQueue)
    {
        props ??= new BasicProperties();
        props.Persistent = true;
        await _channel.BasicPublishAsync("", queue, mandatory: false, props, body);
    }

    public async Task ControlAsync(string taskId, string action, object? data = null)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { taskId, action, data });
        await _channel.BasicPublishAsync("hive.control", "", mandatory: false, new BasicProperties(), body);
    }

    public async Task<TaskStatusDocument?> StatusAsync(string taskId)
    {
        var value = await Redis.StringGetAsync(RedisKeys.Task(taskId));
        return value.IsNull ? null : TaskStatusJson.FromJson(value.ToString());
    }

    public async Task<TaskStatusDocument> WaitForStatusAsync(string taskId, Func<TaskStatusDocument, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        TaskStatusDocument? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await StatusAsync(taskId);
            if (last is not null && match(last)) return last;
            await Task.Delay(50);
        }
        throw new TimeoutException($"task {taskId} did not reach the expected status in {timeout}; last: {(last is null ? "none" : TaskStatusJson.ToJson(last))}");
    }

    public Task<TaskStatusDocument> WaitForFinalAsync(string taskId, TimeSpan timeout) =>
        WaitForStatusAsync(taskId, s => s.State.IsFinal(), timeout);

    public async Task<TaskResult> WaitForResultAsync(string taskId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var hit = Results.FirstOrDefault(r => r.Result.TaskId == taskId);
            if (hit.Result is not null) return hit.Result;
            await Task.Delay(50);
        }
        throw new TimeoutException($"no result for {taskId} on hive.results within {timeout}");
    }

    public IReadOnlyList<TaskResult> ResultsFor(string taskId) => Results.Where(r => r.Result.TaskId == taskId).Select(r => r.Result).ToArray();

    /// <summary>Takes every message now in the dead-letter queue: (body, x-hive-reason).</summary>
    public async Task<IReadOnlyList<(string Body, string Reason, string? MessageId)>> DrainDeadLettersAsync()
    {
        var list = new List<(string, string, string?)>();
        while (await _channel.BasicGetAsync(DeadLetterQueue, autoAck: true) is { } got)
        {
            var reason = got.BasicProperties.Headers?.TryGetValue("x-hive-reason", out var r) == true && r is byte[] bytes ? Encoding.UTF8.GetString(bytes) : "";
            list.Add((Encoding.UTF8.GetString(got.Body.Span), reason, got.BasicProperties.MessageId));
        }
        return list;
    }

    public async Task<uint> QueueDepthAsync(string queue = TaskQueue) => (await _channel.QueueDeclarePassiveAsync(queue)).MessageCount;

    public async Task<string> DeclareReplyQueueAsync()
    {
        var q = await _channel.QueueDeclareAsync("", exclusive: true);
        return q.QueueName;
    }

    public async Task<TaskResult?> GetReplyAsync(string queue, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await _channel.BasicGetAsync(queue, autoAck: true) is { } got) return ResultMessages.FromJson(got.Body.Span);
            await Task.Delay(50);
        }
        return null;
    }

    public IChannel Channel => _channel;

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
        await _redis.DisposeAsync();
    }
}
