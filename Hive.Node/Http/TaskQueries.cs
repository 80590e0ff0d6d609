using System.Text.Json;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Actors.Progress;
using StackExchange.Redis;

namespace Hive.Node.Http;

/// <summary>
/// The API's reads from Redis: task status documents (<c>hive:task:*</c>), node hashes (<c>hive:node:*</c>) and the
/// <c>hive:events</c> stream. Shared by the API and the CLI's direct mode; thread-safe.
/// </summary>
public sealed class TaskQueries(IConnectionMultiplexer redis)
{
    public const string AllowedStates = "queued, accepted, running, paused, succeeded, failed, stopped, timed-out, rejected, dead";

    /// <summary>The stored JSON of the task's status, or null.</summary>
    public async Task<string?> StatusJsonAsync(string taskId)
    {
        var value = await redis.GetDatabase().StringGetAsync(RedisKeys.Task(taskId));
        return value.IsNull ? null : value.ToString();
    }

    /// <summary>
    /// Writes a <c>queued</c> status for a task just published, unless a node already wrote one (SET NX: a node that
    /// took the task at once wins), and appends a <c>queued</c> event. Returns whether the status was written.
    /// </summary>
    public async Task<bool> MarkQueuedAsync(TaskSpec spec, HiveSettings settings, string reason)
    {
        var now = DateTimeOffset.UtcNow;
        var doc = new TaskStatusDocument(spec.TaskId, spec.ScriptOrCommand, TaskState.Queued, null, null, 0, null, null,
            Array.Empty<string>(), 0, now, null, now, null, reason, null, null);
        var db = redis.GetDatabase();
        var written = await db.StringSetAsync(RedisKeys.Task(spec.TaskId), TaskStatusJson.ToJson(doc), settings.TaskTtl * 2, When.NotExists);
        if (written)
            await db.StreamAddAsync(RedisKeys.Events, TaskStatusWriterActor.EventFields("queued", doc),
                maxLength: settings.EventsMaxLength, useApproximateMaxLength: true);
        return written;
    }

    /// <summary>The task's status, or null.</summary>
    public async Task<TaskStatusDocument?> StatusAsync(string taskId) =>
        await StatusJsonAsync(taskId) is { } json ? TaskStatusJson.FromJson(json) : null;

    /// <summary>Matching tasks newest first, and how many match in all.</summary>
    public async Task<(IReadOnlyList<TaskStatusDocument> Page, int Total)> ListAsync(TaskState? state, string? script, string? node, int offset, int limit)
    {
        var db = redis.GetDatabase();
        var keys = new List<RedisKey>();
        await foreach (var key in ScanAsync(RedisKeys.Task("*"))) keys.Add(key);
        var docs = new List<TaskStatusDocument>();
        foreach (var chunk in keys.Chunk(500))
        {
            foreach (var value in await db.StringGetAsync(chunk))
            {
                if (value.IsNull || TaskStatusJson.FromJson(value.ToString()) is not { } doc) continue;
                if (state is { } s && doc.State != s) continue;
                if (script is not null && doc.Script != script) continue;
                if (node is not null && doc.Node != node) continue;
                docs.Add(doc);
            }
        }
        var page = docs.OrderByDescending(d => d.UpdatedAt).ThenBy(d => d.TaskId, StringComparer.Ordinal).Skip(offset).Take(limit).ToArray();
        return (page, docs.Count);
    }

    /// <summary>The field of <c>hive:node:&lt;node&gt;</c> the node writes about itself (admission, load); guide ids never start with '_'.</summary>
    public const string NodeField = "_node";

    /// <summary>
    /// Every node whose hash has not expired: its own status document (null when it writes none) and each guide's state
    /// document, guides in natural order.
    /// </summary>
    public async Task<IReadOnlyList<(string Node, JsonElement? Info, IReadOnlyList<(string Guide, JsonElement Status)> Guides)>> NodesAsync()
    {
        var db = redis.GetDatabase();
        var nodes = new List<(string, JsonElement?, IReadOnlyList<(string, JsonElement)>)>();
        await foreach (var key in ScanAsync(RedisKeys.Node("*")))
        {
            JsonElement? info = null;
            var guides = new List<(string, JsonElement)>();
            var entries = await db.HashGetAllAsync(key);
            if (entries.Length == 0) continue; // expired between the scan and the read
            foreach (var entry in entries)
            {
                JsonElement value;
                try
                {
                    using var doc = JsonDocument.Parse((string)entry.Value!);
                    value = doc.RootElement.Clone();
                }
                catch (JsonException)
                {
                    continue; // not a document Hive wrote
                }
                var name = (string)entry.Name!;
                if (name == NodeField) info = value;
                else if (!name.StartsWith('_')) guides.Add((name, value));
            }
            nodes.Add((((string)key!)[RedisKeys.Node("").Length..], info,
                guides.OrderBy(g => g.Item1.Length).ThenBy(g => g.Item1, StringComparer.Ordinal).ToArray()));
        }
        return nodes.OrderBy(n => n.Item1, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The id of the newest entry of <c>hive:events</c>, or <c>0-0</c> when the stream is empty.</summary>
    public async Task<RedisValue> LastEventIdAsync()
    {
        var newest = await redis.GetDatabase().StreamRangeAsync(RedisKeys.Events, "-", "+", count: 1, messageOrder: Order.Descending);
        return newest.Length > 0 ? newest[0].Id : (RedisValue)"0-0";
    }

    /// <summary>Entries of <c>hive:events</c> after <paramref name="after"/> (exclusive), oldest first.</summary>
    public Task<StreamEntry[]> EventsAfterAsync(RedisValue after, int count) =>
        redis.GetDatabase().StreamReadAsync(RedisKeys.Events, after, count);

    private async IAsyncEnumerable<RedisKey> ScanAsync(string pattern)
    {
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: 1000))
                yield return key;
    }
}
