using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hive.Actors.Admission;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Client;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace Hive.Node.Cli;

/// <summary>What a backend developer does from a shell: submit, watch, read status, send control commands.</summary>
public sealed class HiveCli : IAsyncDisposable
{
    private readonly HiveSettings _settings;
    private IConnection? _rabbit;
    private ConnectionMultiplexer? _redis;

    private readonly HttpClient? _http;
    private readonly HiveClient? _api;

    public HiveCli(HiveSettings settings) => _settings = settings;

    /// <summary>
    /// A CLI that goes through a node's HTTP API (<paramref name="api"/>, e.g. http://127.0.0.1:8080/) for submit, status,
    /// tasks and control, instead of talking to RabbitMQ and Redis itself.
    /// </summary>
    public HiveCli(HiveSettings settings, Uri api, string? token) : this(settings)
    {
        _http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        _api = new HiveClient(_http, token);
    }

    public async Task<string> SubmitAsync(string script, string? argsJson, string? id, int? timeoutSeconds, int? maxAttempts, string? responseUrl, CancellationToken ct)
    {
        var taskId = id ?? Guid.NewGuid().ToString("N");
        var task = new JsonObject { ["taskId"] = taskId, ["script"] = script };
        if (argsJson is not null)
        {
            try { task["args"] = JsonNode.Parse(argsJson); }
            catch (JsonException e) { throw new ArgumentException($"--args is not valid JSON: {e.Message}"); }
        }
        if (timeoutSeconds is { } t) task["timeoutSeconds"] = t;
        if (maxAttempts is { } m) task["maxAttempts"] = m;
        if (responseUrl is not null) task["responseUrl"] = responseUrl;
        if (_api is not null)
        {
            var request = new TaskRequest(script, task["args"] is { } a ? JsonSerializer.SerializeToElement(a) : null, taskId)
            {
                TimeoutSeconds = timeoutSeconds, MaxAttempts = maxAttempts, ResponseUrl = responseUrl,
            };
            try { return await _api.SubmitAsync(request, ct); }
            catch (HiveApiException e) { throw new ArgumentException(e.Message); }
        }
        await using var channel = await ChannelAsync(ct);
        await channel.QueueDeclareAsync(_settings.TaskQueue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
        var props = new BasicProperties { Persistent = true, ContentType = "application/json", MessageId = taskId };
        await channel.BasicPublishAsync("", _settings.TaskQueue, mandatory: false, props, Encoding.UTF8.GetBytes(task.ToJsonString()), ct);
        return taskId;
    }

    /// <summary>Asks the node named <paramref name="node"/> to drain and exit (a <c>drain</c> control message on the broker).</summary>
    public async Task DrainAsync(string node, CancellationToken ct)
    {
        if (_api is not null) throw new ArgumentException("drain goes through the broker; run it without --api");
        await using var channel = await ChannelAsync(ct);
        await channel.ExchangeDeclareAsync(_settings.ControlExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        var body = ControlParser.Serialize(new ControlCommand(node, ControlAction.Drain, null, $"cli@{Environment.MachineName}"));
        await channel.BasicPublishAsync(_settings.ControlExchange, "", mandatory: false, new BasicProperties { ContentType = "application/json" }, body, ct);
    }

    public async Task ControlAsync(string taskId, ControlAction action, CancellationToken ct)
    {
        if (_api is not null)
        {
            await (action switch
            {
                ControlAction.Stop => _api.StopAsync(taskId, ct),
                ControlAction.Pause => _api.PauseAsync(taskId, ct),
                ControlAction.Resume => _api.ResumeAsync(taskId, ct),
                _ => throw new ArgumentException($"'{action}' cannot be sent through the API"),
            });
            return;
        }
        await using var channel = await ChannelAsync(ct);
        await channel.ExchangeDeclareAsync(_settings.ControlExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        var body = ControlParser.Serialize(new ControlCommand(taskId, action, null, $"cli@{Environment.MachineName}"));
        await channel.BasicPublishAsync(_settings.ControlExchange, "", mandatory: false, new BasicProperties { ContentType = "application/json" }, body, ct);
    }

    public async Task<string?> StatusJsonAsync(string taskId)
    {
        if (_api is not null)
            return await _api.GetAsync(taskId) is { } status ? JsonSerializer.Serialize(status, HiveJson.Options) : null;
        var redis = await RedisAsync();
        var value = await redis.GetDatabase().StringGetAsync(RedisKeys.Task(taskId));
        return value.IsNull ? null : value.ToString();
    }

    /// <summary>
    /// Every node that refreshed its hash recently (hive:node:&lt;node&gt;): the node's own field (admission gate, load),
    /// when it writes one, and each guide's state.
    /// </summary>
    public async Task<IReadOnlyList<NodeView>> NodesAsync()
    {
        var redis = await RedisAsync();
        var db = redis.GetDatabase();
        var nodes = new List<NodeView>();
        await foreach (var key in ScanAsync(redis, RedisKeys.Node("*")))
        {
            var fields = (await db.HashGetAllAsync(key)).Select(e => ((string)e.Name!, JsonDocument.Parse((string)e.Value!).RootElement.Clone())).ToArray();
            if (fields.Length == 0) continue; // expired between the scan and the read
            var info = fields.Where(f => f.Item1 == NodeHashFields.Node).Select(f => (JsonElement?)f.Item2).FirstOrDefault();
            var guides = fields.Where(f => f.Item1 != NodeHashFields.Node)
                .OrderBy(g => g.Item1.Length).ThenBy(g => g.Item1, StringComparer.Ordinal)
                .ToArray();
            nodes.Add(new NodeView(((string)key!)["hive:node:".Length..], info, guides));
        }
        return nodes.OrderBy(n => n.Node, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Tasks known to Redis (hive:task:&lt;id&gt;), newest first, optionally filtered by state and script.</summary>
    public async Task<IReadOnlyList<TaskStatusDocument>> TasksAsync(string? state, string? script, int limit)
    {
        TaskState? wanted = null;
        if (state is not null)
        {
            if (!TaskStateWire.TryParse(state, out var parsed))
                throw new ArgumentException($"unknown state '{state}'; one of queued, accepted, running, paused, succeeded, failed, stopped, timed-out, rejected, dead");
            wanted = parsed;
        }
        if (_api is not null)
        {
            var page = await _api.ListAsync(new TaskFilter(Script: script, Limit: limit) with
            {
                State = wanted is { } w ? JsonSerializer.Deserialize<HiveTaskState>($"\"{w.ToWire()}\"", HiveJson.Options) : null,
            });
            return page.Items.Select(t => TaskStatusJson.FromJson(JsonSerializer.Serialize(t, HiveJson.Options))!).ToArray();
        }
        var redis = await RedisAsync();
        var db = redis.GetDatabase();
        var docs = new List<TaskStatusDocument>();
        var keys = new List<RedisKey>();
        await foreach (var key in ScanAsync(redis, RedisKeys.Task("*"))) keys.Add(key);
        foreach (var chunk in keys.Chunk(500))
        {
            var values = await db.StringGetAsync(chunk);
            foreach (var value in values)
            {
                if (value.IsNull || TaskStatusJson.FromJson(value.ToString()) is not { } doc) continue;
                if (wanted is { } w && doc.State != w) continue;
                if (script is not null && doc.Script != script) continue;
                docs.Add(doc);
            }
        }
        return docs.OrderByDescending(d => d.UpdatedAt).Take(limit).ToArray();
    }

    private static async IAsyncEnumerable<RedisKey> ScanAsync(ConnectionMultiplexer redis, string pattern)
    {
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: 1000))
                yield return key;
    }

    /// <summary>Prints progress until the task ends; true when it succeeded.</summary>
    public async Task<bool> WatchAsync(string taskId, TextWriter output, CancellationToken ct)
    {
        string? last = null;
        while (!ct.IsCancellationRequested)
        {
            var json = await StatusJsonAsync(taskId);
            if (json is not null && json != last)
            {
                last = json;
                var doc = TaskStatusJson.FromJson(json);
                if (doc is not null)
                {
                    var progress = doc.Progress is { } p ? $"{p,5:0.0}%" : "   -  ";
                    var line = doc.Lines.Count > 0 ? doc.Lines[^1] : "";
                    await output.WriteLineAsync($"{doc.State.ToWire(),-10} {progress} {doc.Stage ?? "",-10} {line}");
                    if (doc.State.IsFinal())
                    {
                        if (doc.Reason is not null) await output.WriteLineAsync($"{doc.State.ToWire()}: {doc.Reason}");
                        return doc.State == TaskState.Succeeded;
                    }
                }
            }
            await Task.Delay(200, ct);
        }
        return false;
    }

    private async Task<IChannel> ChannelAsync(CancellationToken ct)
    {
        _rabbit ??= await new ConnectionFactory { Uri = new Uri(_settings.RabbitUri), ClientProvidedName = "hive-cli" }.CreateConnectionAsync(ct);
        // Publisher confirms: `hive submit` prints the task id only once the broker has the task.
        return await _rabbit.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct);
    }

    private async Task<ConnectionMultiplexer> RedisAsync()
    {
        if (_redis is not null) return _redis;
        var options = ConfigurationOptions.Parse(_settings.RedisConfiguration);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 5000;
        return _redis = await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        if (_rabbit is not null) await _rabbit.DisposeAsync();
        if (_redis is not null) await _redis.DisposeAsync();
    }
}

/// <summary>One node as `hive nodes` shows it: its own status field (null for nodes that do not write one) and its guides.</summary>
public sealed record NodeView(string Node, JsonElement? Info, IReadOnlyList<(string Guide, JsonElement Status)> Guides)
{
    /// <summary>"open", "closed: memory 93% &gt; 90%", or "unknown" when the node does not report it.</summary>
    public string Admission =>
        Info is { ValueKind: JsonValueKind.Object } info && info.TryGetProperty("admission", out var a) && a.ValueKind == JsonValueKind.String
            ? a.GetString()!
            : "unknown";

    /// <summary>True when the node reports its catalogue (older nodes, and a node that has not read tasks/ yet, do not).</summary>
    public bool ReportsCatalog =>
        Info is { ValueKind: JsonValueKind.Object } info && info.TryGetProperty("scripts", out var scripts) && scripts.ValueKind == JsonValueKind.Array;

    /// <summary>The node's catalogue: the scripts of its tasks/ folder and their content hashes (empty when it reports none).</summary>
    public IReadOnlyList<(string Name, string Hash)> Scripts =>
        ReportsCatalog && Info!.Value.GetProperty("scripts") is var scripts
            ? [.. scripts.EnumerateArray()
                .Where(s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                            && s.TryGetProperty("hash", out var h) && h.ValueKind == JsonValueKind.String)
                .Select(s => (s.GetProperty("name").GetString()!, s.GetProperty("hash").GetString()!))]
            : [];

    /// <summary>
    /// One line per script whose content (script + manifest) differs between the nodes that have it, or that only some
    /// nodes have: a task of it would behave differently depending on the node that takes it.
    /// </summary>
    public static IReadOnlyList<string> CatalogDifferences(IReadOnlyList<NodeView> nodes)
    {
        // Each node's catalogue read once (Scripts parses the node's JSON on every call).
        var catalogues = nodes.Where(n => n.ReportsCatalog)
            .Select(n => (n.Node, Hashes: n.Scripts.DistinctBy(s => s.Name).ToDictionary(s => s.Name, s => s.Hash, StringComparer.Ordinal)))
            .ToArray();
        if (catalogues.Length < 2) return [];
        var lines = new List<string>();
        foreach (var name in catalogues.SelectMany(c => c.Hashes.Keys).Distinct().Order(StringComparer.Ordinal))
        {
            var versions = catalogues.Select(c => (c.Node, Hash: c.Hashes.GetValueOrDefault(name))).ToArray();
            if (versions.Select(v => v.Hash).Distinct().Count() == 1) continue;
            lines.Add($"tasks/{name} differs between nodes: " +
                      string.Join(", ", versions.Select(v => $"{v.Node} {(v.Hash is null ? "(missing)" : v.Hash[..Math.Min(8, v.Hash.Length)])}")));
        }
        return lines;
    }
}
