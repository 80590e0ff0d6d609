using System.Collections.Concurrent;
using Hive.Actors.Callbacks;
using Hive.Actors.Contracts;
using Hive.Actors.Messaging;

namespace Hive.Tests.Entities;

/// <summary>An <see cref="IHiveBus"/> that records what the entity publishes and can be told to fail result publishes.</summary>
internal sealed class RecordingBus : IHiveBus
{
    private int _resultFailuresLeft;
    private int _failedResultPublishes;
    private volatile bool _resultsDown;

    public ConcurrentQueue<TaskSpec> Tasks { get; } = new();
    public ConcurrentQueue<(TaskResult Result, string? ReplyTo, string? CorrelationId)> Results { get; } = new();

    /// <summary>Result publishes that threw so far.</summary>
    public int FailedResultPublishes => Volatile.Read(ref _failedResultPublishes);

    /// <summary>The next <paramref name="count"/> result publishes throw, as a broker without confirms would.</summary>
    public void FailNextResultPublishes(int count) => Interlocked.Exchange(ref _resultFailuresLeft, count);

    /// <summary>While down, every result publish throws.</summary>
    public bool ResultsDown { get => _resultsDown; set => _resultsDown = value; }

    public IReadOnlyList<TaskSpec> TasksFor(string taskId) => Tasks.Where(t => t.TaskId == taskId).ToArray();

    public IReadOnlyList<TaskResult> ResultsFor(string taskId) => Results.Where(r => r.Result.TaskId == taskId).Select(r => r.Result).ToArray();

    public Task PublishTaskAsync(TaskSpec spec, CancellationToken ct = default)
    {
        Tasks.Enqueue(spec);
        return Task.CompletedTask;
    }

    /// <summary>Recorded with the published tasks: the entity only ever re-queues.</summary>
    public Task RequeueTaskAsync(TaskSpec spec, CancellationToken ct = default) => PublishTaskAsync(spec, ct);

    public async Task PublishResultAsync(TaskResult result, string? replyTo, string? correlationId, CancellationToken ct = default)
    {
        await Task.Yield();
        if (_resultsDown || Interlocked.Decrement(ref _resultFailuresLeft) >= 0)
        {
            Interlocked.Increment(ref _failedResultPublishes);
            throw new InvalidOperationException("broker did not confirm the publish (test double)");
        }
        Results.Enqueue((result, replyTo, correlationId));
    }

    public Task DeadLetterAsync(ReadOnlyMemory<byte> body, string reason, IReadOnlyDictionary<string, object?>? originalHeaders, string? messageId,
        string? correlationId, CancellationToken ct = default) =>
        throw new NotSupportedException("a task entity never dead-letters");

    public Task PublishControlAsync(ControlCommand command, CancellationToken ct = default) =>
        throw new NotSupportedException("a task entity never publishes control messages");
}

/// <summary>An <see cref="ICallbackSender"/> that records every POST.</summary>
internal sealed class RecordingCallbacks : ICallbackSender
{
    public ConcurrentQueue<(Uri Url, byte[] Body, string IdempotencyKey)> Posts { get; } = new();

    /// <summary>POSTs to these URLs are recorded and then fail, as the real sender does once its retries are spent.</summary>
    public ConcurrentDictionary<Uri, bool> Refusing { get; } = new();

    public IReadOnlyList<(Uri Url, byte[] Body, string IdempotencyKey)> PostsTo(string url) => Posts.Where(p => p.Url == new Uri(url)).ToArray();

    public Task PostAsync(Uri url, byte[] body, string idempotencyKey, CancellationToken ct = default)
    {
        Posts.Enqueue((url, body, idempotencyKey));
        return Refusing.ContainsKey(url)
            ? Task.FromException(new HttpRequestException($"callback to {url.GetLeftPart(UriPartial.Path)} answered 404 Not Found"))
            : Task.CompletedTask;
    }
}
