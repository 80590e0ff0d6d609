using System.Collections.Concurrent;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Hive.Bench;

/// <summary>One result seen on hive.results: when it arrived (monotonic ns), its state, and the probe's start time if any.</summary>
internal readonly record struct Arrival(long ReceivedNs, string State, long? StartNs, string? Reason = null, DateTimeOffset? StartedAt = null, DateTimeOffset? EndedAt = null);

/// <summary>Collects the results of one batch of task ids; completes when every one has arrived.</summary>
internal sealed class ResultBatch
{
    private readonly ConcurrentDictionary<string, byte> _expected;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ResultBatch(IEnumerable<string> ids)
    {
        _expected = new ConcurrentDictionary<string, byte>(ids.Select(id => KeyValuePair.Create(id, (byte)0)));
        if (_expected.IsEmpty) _done.TrySetResult();
    }

    public ConcurrentDictionary<string, Arrival> Arrivals { get; } = new();

    public Task Completion => _done.Task;

    public void Offer(string taskId, Arrival arrival)
    {
        if (!_expected.ContainsKey(taskId) || !Arrivals.TryAdd(taskId, arrival)) return;
        if (Arrivals.Count == _expected.Count) _done.TrySetResult();
    }

    /// <summary>Waits for every result; on timeout says how many arrived.</summary>
    public async Task WaitAsync(TimeSpan timeout, Func<string>? diagnostics = null)
    {
        try
        {
            await _done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"only {Arrivals.Count} of {_expected.Count} results arrived within {timeout}. {diagnostics?.Invoke()}");
        }
    }
}

/// <summary>
/// What a backend does: publishes tasks (persistent, to the durable hive.tasks queue) and reads hive.results,
/// stamping each result with the monotonic clock the moment it is delivered.
/// </summary>
internal sealed class BenchBus : IAsyncDisposable
{
    public const string TaskQueue = "hive.tasks";
    private readonly IConnection _connection;
    private readonly IChannel _publish;
    private readonly IChannel _consume;
    private volatile ResultBatch? _batch;

    private BenchBus(IConnection connection, IChannel publish, IChannel consume)
    {
        _connection = connection;
        _publish = publish;
        _consume = consume;
    }

    public static async Task<BenchBus> ConnectAsync(string uri)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(uri), ClientProvidedName = "hive-bench" }.CreateConnectionAsync();
        var publish = await connection.CreateChannelAsync();
        var consume = await connection.CreateChannelAsync();
        await publish.QueueDeclareAsync(TaskQueue, durable: true, exclusive: false, autoDelete: false);
        await publish.QueueDeclareAsync("hive.tasks.dead", durable: true, exclusive: false, autoDelete: false);
        await publish.ExchangeDeclareAsync("hive.results", ExchangeType.Topic, durable: true);
        await publish.ExchangeDeclareAsync("hive.control", ExchangeType.Fanout, durable: true);
        var bus = new BenchBus(connection, publish, consume);
        var results = await consume.QueueDeclareAsync("", exclusive: true);
        await consume.QueueBindAsync(results.QueueName, "hive.results", "#");
        var consumer = new AsyncEventingBasicConsumer(consume);
        consumer.ReceivedAsync += (_, e) =>
        {
            var now = Machine.NowNs();
            bus.OnResult(e.Body.Span, now);
            return Task.CompletedTask;
        };
        await consume.BasicConsumeAsync(results.QueueName, autoAck: true, consumer);
        return bus;
    }

    /// <summary>Starts collecting the results of these task ids (replacing any previous batch).</summary>
    public ResultBatch Expect(IEnumerable<string> ids)
    {
        var batch = new ResultBatch(ids);
        _batch = batch;
        return batch;
    }

    public static string Id(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary>Publishes one task; returns the monotonic ns just before the publish.</summary>
    public async ValueTask<long> PublishAsync(string taskId, string script, object? args = null)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { taskId, script, args, maxAttempts = 1 });
        var props = new BasicProperties { Persistent = true, MessageId = taskId };
        var at = Machine.NowNs();
        await _publish.BasicPublishAsync("", TaskQueue, mandatory: false, props, body);
        return at;
    }

    public async Task<(uint Messages, uint Consumers)> QueueAsync()
    {
        var ok = await _publish.QueueDeclarePassiveAsync(TaskQueue);
        return (ok.MessageCount, ok.ConsumerCount);
    }

    public async Task PurgeAsync() => await _publish.QueuePurgeAsync(TaskQueue);

    /// <summary>Waits until <paramref name="consumers"/> consumers are attached to hive.tasks (the node takes tasks).</summary>
    public async Task WaitForConsumersAsync(int consumers, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while ((await QueueAsync()).Consumers < consumers)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"fewer than {consumers} consumers on {TaskQueue} after {timeout}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the task queue holds <paramref name="messages"/> ready messages (publishes are not confirmed).</summary>
    public async Task WaitForDepthAsync(uint messages, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while ((await QueueAsync()).Messages < messages)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{TaskQueue} did not reach {messages} messages in {timeout}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _consume.DisposeAsync();
        await _publish.DisposeAsync();
        await _connection.DisposeAsync();
    }

    private void OnResult(ReadOnlySpan<byte> body, long receivedNs)
    {
        var batch = _batch;
        if (batch is null) return;
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (!root.TryGetProperty("taskId", out var id) || id.GetString() is not { } taskId) return;
            var state = root.TryGetProperty("state", out var s) ? s.GetString() ?? "" : "";
            long? startNs = root.TryGetProperty("result", out var r) && r.ValueKind == JsonValueKind.Object && r.TryGetProperty("startNs", out var ns)
                ? ns.GetInt64()
                : null;
            var reason = root.TryGetProperty("reason", out var why) && why.ValueKind == JsonValueKind.String ? why.GetString() : null;
            var startedAt = root.TryGetProperty("startedAt", out var sa) && sa.ValueKind == JsonValueKind.String ? sa.GetDateTimeOffset() : (DateTimeOffset?)null;
            var endedAt = root.TryGetProperty("endedAt", out var ea) && ea.ValueKind == JsonValueKind.String ? ea.GetDateTimeOffset() : (DateTimeOffset?)null;
            batch.Offer(taskId, new Arrival(receivedNs, state, startNs, reason, startedAt, endedAt));
        }
        catch (JsonException)
        {
            // not a result message
        }
    }
}
