using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Actors.Messaging;
using Hive.Actors.Processes;
using Microsoft.Extensions.Logging;

namespace Hive.Node.Http;

/// <summary>What became of a submission: accepted with its id, or refused with a status code and a reason.</summary>
public abstract record SubmitOutcome
{
    private SubmitOutcome()
    {
    }

    public sealed record Queued(string TaskId) : SubmitOutcome;

    public sealed record Refused(int StatusCode, string Reason) : SubmitOutcome;
}

/// <summary>
/// Validates a task the way the node's ingestion does (<see cref="TaskParser"/> + the <see cref="ScriptCatalog"/>), so
/// the caller hears about bad input at once instead of through a dead letter, then publishes it to the task queue with
/// publisher confirms (<see cref="IHiveBus.PublishTaskAsync"/>).
/// </summary>
public sealed class TaskSubmitter(HiveSettings settings, ScriptCatalog catalog, IHiveBus bus, TaskQueries queries, ILogger<TaskSubmitter> log)
{
    private readonly TaskParserOptions _options = new(settings.MaxBodyBytes, settings.AllowCommands, catalog.Check,
        settings.DefaultMaxAttempts, settings.DefaultProgressLength, settings.DefaultResultLength, settings.MaxArgsDepth);

    public int MaxBodyBytes => settings.MaxBodyBytes;

    public async Task<SubmitOutcome> SubmitAsync(ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        // A body without taskId gets a fresh one (the parser takes the message-id when the body has none).
        var headers = new TaskMessageHeaders(Guid.NewGuid().ToString("N"), null, null, null);
        var outcome = TaskParser.Parse(body.Span, headers, _options);
        if (outcome is ParseOutcome.Rejected rejected)
            return new SubmitOutcome.Refused(400, rejected.Reason);
        var spec = ((ParseOutcome.Accepted)outcome).Spec;
        if (spec.Queue is not null && spec.Queue != settings.TaskQueue)
            return new SubmitOutcome.Refused(400, $"queue '{spec.Queue}' is not this node's task queue '{settings.TaskQueue}'; leave it out");
        spec = spec with { Queue = null };

        if (await queries.StatusAsync(spec.TaskId) is { } existing)
            return new SubmitOutcome.Refused(409, $"task {spec.TaskId} already exists ({existing.State.ToWire()}); choose another taskId or leave it out");

        try
        {
            await bus.PublishTaskAsync(spec, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogWarning("Task {TaskId}: submitting through the API failed: {Error}", spec.TaskId, e.GetBaseException().Message);
            return new SubmitOutcome.Refused(503, $"the task queue did not confirm task {spec.TaskId}: {e.GetBaseException().Message}");
        }
        log.LogInformation("Task {TaskId}: submitted through the API (script {Script})", spec.TaskId, spec.ScriptOrCommand);
        try
        {
            // So that its status reads "queued" at once rather than "never seen" until a node takes it.
            await queries.MarkQueuedAsync(spec, settings, "submitted through the API; waiting for a free guide");
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            log.LogWarning("Task {TaskId}: queued, but its queued status could not be written: {Error}", spec.TaskId, e.Message);
        }
        return new SubmitOutcome.Queued(spec.TaskId);
    }
}
