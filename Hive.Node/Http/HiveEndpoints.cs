using System.Buffers;
using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Actors.Messaging;
using Hive.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hive.Node.Http;

/// <summary>The endpoints of <c>/api/v1</c>, <c>/healthz</c> and <c>/readyz</c>. Every error answer is <c>{"error": "…"}</c>.</summary>
public static class HiveEndpoints
{
    private const string Json = "application/json";
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static IEndpointRouteBuilder MapHiveEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Json(new { status = "up" })).WithName("health").WithSummary("The process is up");
        app.MapGet("/readyz", ReadyAsync).WithName("ready")
            .WithSummary("200 only while RabbitMQ is connected, Redis answers and this node is an Up cluster member; else 503 naming what is down");

        var api = app.MapGroup("/api/v1");
        api.MapPost("/tasks", SubmitAsync).WithName("submitTask")
            .WithSummary("Validate a task (the Hive task contract) and put it on the task queue")
            .Accepts<TaskRequest>(Json)
            .Produces<TaskAccepted>(StatusCodes.Status202Accepted)
            .Produces<ApiError>(StatusCodes.Status400BadRequest).Produces<ApiError>(StatusCodes.Status401Unauthorized)
            .Produces<ApiError>(StatusCodes.Status409Conflict).Produces<ApiError>(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/tasks", ListAsync).WithName("listTasks")
            .WithSummary("Tasks known to Redis, newest first, filtered by state, script and node, paged by offset and limit")
            .Produces<TaskPage>().Produces<ApiError>(StatusCodes.Status400BadRequest);
        api.MapGet("/tasks/{id}", GetAsync).WithName("getTask").WithSummary("A task's status document")
            .Produces<HiveTaskStatus>().Produces<ApiError>(StatusCodes.Status404NotFound);
        api.MapGet("/tasks/{id}/logs", LogsAsync).WithName("getTaskLogs").WithSummary("The output lines kept for a task")
            .Produces<TaskLogs>().Produces<ApiError>(StatusCodes.Status404NotFound);
        foreach (var action in new[] { ControlAction.Stop, ControlAction.Pause, ControlAction.Resume })
        {
            var wire = ControlParser.ToWire(action);
            api.MapPost($"/tasks/{{id}}/{wire}", (string id, IHiveBus bus, ApiGate gate, ILoggerFactory logs, CancellationToken ct) =>
                    ControlAsync(id, action, bus, gate, logs, ct))
                .WithName($"{wire}Task").WithSummary($"Send '{wire}' to the task wherever it runs ('all' = every task)")
                .Produces<ControlAccepted>(StatusCodes.Status202Accepted).Produces<ApiError>(StatusCodes.Status400BadRequest);
        }
        api.MapGet("/nodes", NodesAsync).WithName("listNodes").WithSummary("Nodes that reported recently, with their guides")
            .Produces<NodeInfo[]>();
        api.MapGet("/events", EventsAsync).WithName("events")
            .WithSummary("Server-Sent Events of the hive:events stream, from now on or after ?from=<id> (or Last-Event-ID); ?taskId= keeps one task's")
            .Produces<HiveEvent>(StatusCodes.Status200OK, "text/event-stream");
        return app;
    }

    private static IResult Error(int status, string reason) => Results.Json(new ApiError(reason), HiveJson.Options, statusCode: status);

    private static IResult Starting() => Error(StatusCodes.Status503ServiceUnavailable, "the node is starting (or stopping); try again in a moment");

    private static async Task<IResult> ReadyAsync(Readiness readiness, CancellationToken ct)
    {
        var checks = await readiness.CheckAsync(ct);
        var body = new Dictionary<string, object>
        {
            ["status"] = checks.All(c => c.Up) ? "ready" : "not ready",
            ["checks"] = checks.ToDictionary(c => c.Name, c => new { up = c.Up, detail = c.Detail }),
        };
        if (checks.Any(c => !c.Up))
            body["error"] = "not ready: " + string.Join("; ", checks.Where(c => !c.Up).Select(c => $"{c.Name} down ({c.Detail})"));
        return Results.Json(body, HiveJson.Options, statusCode: checks.All(c => c.Up) ? 200 : 503);
    }

    private static async Task<IResult> SubmitAsync(HttpRequest request, TaskSubmitter submitter, ApiGate gate, CancellationToken ct)
    {
        if (!gate.IsOpen) return Starting();
        var max = submitter.MaxBodyBytes;
        if (request.ContentLength > max) return Error(StatusCodes.Status413PayloadTooLarge, $"body is {request.ContentLength} bytes; the limit is {max}");
        var body = new ArrayBufferWriter<byte>(Math.Min(max, 16 * 1024));
        while (true)
        {
            var read = await request.Body.ReadAsync(body.GetMemory(4096), ct);
            if (read == 0) break;
            body.Advance(read);
            if (body.WrittenCount > max) return Error(StatusCodes.Status413PayloadTooLarge, $"body is larger than the limit of {max} bytes");
        }
        return await submitter.SubmitAsync(body.WrittenMemory, ct) switch
        {
            SubmitOutcome.Queued queued => Results.Json(new TaskAccepted(queued.TaskId), HiveJson.Options, statusCode: StatusCodes.Status202Accepted),
            SubmitOutcome.Refused refused => Error(refused.StatusCode, refused.Reason),
            _ => throw new InvalidOperationException("unknown submit outcome"),
        };
    }

    private static async Task<IResult> GetAsync(string id, TaskQueries queries)
    {
        if (!TaskParser.IsValidId(id)) return Error(400, $"'{Shown(id)}' is not a task id (1-128 characters of A-Z a-z 0-9 _ . : -)");
        var json = await queries.StatusJsonAsync(id);
        return json is null ? NotFound(id) : Results.Text(json, Json, Encoding.UTF8);
    }

    private static IResult NotFound(string id) =>
        Error(StatusCodes.Status404NotFound, $"no task {id} is known: it was never seen by a node, or its status expired (hive.redis.task-ttl)");

    private static async Task<IResult> LogsAsync(string id, TaskQueries queries)
    {
        if (!TaskParser.IsValidId(id)) return Error(400, $"'{Shown(id)}' is not a task id (1-128 characters of A-Z a-z 0-9 _ . : -)");
        var doc = await queries.StatusAsync(id);
        if (doc is null) return NotFound(id);
        return Results.Json(new { taskId = doc.TaskId, state = doc.State.ToWire(), lines = doc.Lines, totalLines = doc.TotalLines }, HiveJson.Options);
    }

    private static async Task<IResult> ListAsync(string? state, string? script, string? node, int? offset, int? limit, TaskQueries queries, HttpApiSettings settings)
    {
        TaskState? wanted = null;
        if (!string.IsNullOrEmpty(state))
        {
            if (!TaskStateWire.TryParse(state, out var parsed)) return Error(400, $"state '{Shown(state)}' is unknown; one of {TaskQueries.AllowedStates}");
            wanted = parsed;
        }
        var from = offset ?? 0;
        var take = limit ?? 50;
        if (from < 0) return Error(400, $"offset must be 0 or more; got {from}");
        if (take < 1 || take > settings.MaxPageSize) return Error(400, $"limit must be 1 to {settings.MaxPageSize}; got {take}");
        var (page, total) = await queries.ListAsync(wanted, NullIfEmpty(script), NullIfEmpty(node), from, take);
        var bytes = WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("items");
            foreach (var doc in page) w.WriteRawValue(TaskStatusJson.ToUtf8(doc), skipInputValidation: true);
            w.WriteEndArray();
            w.WriteNumber("total", total);
            w.WriteNumber("offset", from);
            w.WriteNumber("limit", take);
            w.WriteEndObject();
        });
        return Results.Bytes(bytes, Json);
    }

    private static async Task<IResult> ControlAsync(string id, ControlAction action, IHiveBus bus, ApiGate gate, ILoggerFactory logs, CancellationToken ct)
    {
        if (!gate.IsOpen) return Starting();
        if (id != ControlCommand.All && !TaskParser.IsValidId(id))
            return Error(400, $"'{Shown(id)}' is not a task id (1-128 characters of A-Z a-z 0-9 _ . : -) or 'all'");
        var wire = ControlParser.ToWire(action);
        try
        {
            await bus.PublishControlAsync(new ControlCommand(id, action, null, "api"), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Error(StatusCodes.Status503ServiceUnavailable, $"the control exchange did not confirm '{wire}' for {id}: {e.GetBaseException().Message}");
        }
        logs.CreateLogger("Hive.Node.Http").LogInformation("Task {TaskId}: {Action} sent through the API", id, wire);
        return Results.Json(new ControlAccepted(id, wire), HiveJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> NodesAsync(TaskQueries queries)
    {
        var nodes = await queries.NodesAsync();
        var bytes = WriteJson(w =>
        {
            w.WriteStartArray();
            foreach (var (node, info, guides) in nodes)
            {
                w.WriteStartObject();
                w.WriteString("node", node);
                if (info is { } i)
                {
                    w.WritePropertyName("info");
                    i.WriteTo(w);
                }
                w.WriteStartArray("guides");
                foreach (var (guide, status) in guides)
                {
                    w.WriteStartObject();
                    w.WriteString("guide", guide);
                    if (status.ValueKind == JsonValueKind.Object)
                        foreach (var property in status.EnumerateObject())
                            if (property.Name != "guide") property.WriteTo(w);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
        return Results.Bytes(bytes, Json);
    }

    /// <summary>
    /// Server-Sent Events of <c>hive:events</c>. StackExchange.Redis has no blocking XREAD, so the feed reads new entries
    /// every <c>hive.http.events-poll-interval</c> (and sends a keep-alive comment every 15 s) until the client leaves.
    /// </summary>
    private static async Task EventsAsync(HttpContext context, string? from, string? taskId, TaskQueries queries, HttpApiSettings settings, ILoggerFactory logs)
    {
        var ct = context.RequestAborted;
        var response = context.Response;
        var start = from ?? (context.Request.Headers.TryGetValue("Last-Event-ID", out var last) ? last.ToString() : null);
        if (start is not null && start != "$" && !IsStreamId(start))
        {
            response.StatusCode = 400;
            await response.WriteAsJsonAsync(new ApiError($"from '{Shown(start)}' is not a stream id (<ms>-<seq>, 0, or $ for new events only)"), HiveJson.Options, ct);
            return;
        }
        if (taskId is not null && !TaskParser.IsValidId(taskId))
        {
            response.StatusCode = 400;
            await response.WriteAsJsonAsync(new ApiError($"taskId '{Shown(taskId)}' is not a task id"), HiveJson.Options, ct);
            return;
        }

        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var log = logs.CreateLogger("Hive.Node.Http.Events");
        try
        {
            RedisValue position = start is null or "$" ? await queries.LastEventIdAsync() : start;
            await response.WriteAsync(": hive events\n\n", ct);
            await response.Body.FlushAsync(ct);
            var quietSince = DateTime.UtcNow;
            while (!ct.IsCancellationRequested)
            {
                StreamEntry[] entries;
                try
                {
                    entries = await queries.EventsAfterAsync(position, 200);
                }
                catch (RedisException e)
                {
                    log.LogWarning("Event feed: reading {Stream} failed, retrying: {Error}", RedisKeys.Events, e.Message);
                    entries = [];
                }
                foreach (var entry in entries)
                {
                    position = entry.Id;
                    var evt = ToEvent(entry);
                    if (taskId is not null && evt.TaskId != taskId) continue;
                    await response.WriteAsync($"id: {entry.Id}\nevent: {evt.Event}\ndata: {JsonSerializer.Serialize(evt, HiveJson.Options)}\n\n", ct);
                }
                if (entries.Length > 0)
                {
                    await response.Body.FlushAsync(ct);
                    quietSince = DateTime.UtcNow;
                    if (entries.Length == 200) continue;
                }
                else if (DateTime.UtcNow - quietSince > KeepAlive)
                {
                    await response.WriteAsync(": keep-alive\n\n", ct);
                    await response.Body.FlushAsync(ct);
                    quietSince = DateTime.UtcNow;
                }
                await Task.Delay(settings.EventsPollInterval, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client left.
        }
        catch (IOException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static HiveEvent ToEvent(StreamEntry entry)
    {
        string? Field(string name) => entry[name] is { IsNullOrEmpty: false } v ? v.ToString() : null;
        HiveTaskState? state = Field("state") is { } s
            ? JsonSerializer.Deserialize<HiveTaskState?>($"\"{s}\"", HiveJson.Options)
            : null;
        return new HiveEvent(entry.Id.ToString(), Field("event") ?? "unknown", Field("taskId") ?? "", state, Field("node"),
            int.TryParse(Field("attempt"), out var attempt) ? attempt : null, Field("reason"));
    }

    private static bool IsStreamId(string id)
    {
        var parts = id.Split('-');
        return parts.Length is 1 or 2 && parts.All(p => p.Length is > 0 and <= 20 && p.All(char.IsAsciiDigit));
    }

    private static byte[] WriteJson(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer)) write(writer);
        return buffer.WrittenSpan.ToArray();
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static string Shown(string value) => value.Length > 64 ? value[..64] + "…" : value;
}
