using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using RabbitMQ.Client;
using StackExchange.Redis;
using Xunit;

namespace Hive.Tests.Faults;

/// <summary>
/// How long the fault cases hold a broker down. The default suite keeps it short; <c>bench/soak</c> sets
/// <c>HIVE_SOAK=1</c> for the production-like 30 s and the cases that only run there.
/// </summary>
public static class FaultSettings
{
    public static bool Soak { get; } = Environment.GetEnvironmentVariable("HIVE_SOAK") is "1" or "true" or "on";

    public static TimeSpan Outage { get; } = Soak ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(12);

    /// <summary>For <c>[Fact(SkipUnless = ...)]</c>: cases that only run in the soak.</summary>
    public static bool SoakOnly => Soak;

    public static void Log(string line) => TestContext.Current.TestOutputHelper?.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}");
}

/// <summary>
/// A backend's publisher that does its job while the broker comes and goes: every task is published persistent, with
/// publisher confirms, and published again (same id) until the broker confirms it. Only confirmed tasks count as
/// submitted; a task published twice (confirm lost with the connection) must still end once.
/// </summary>
public sealed class ConfirmingSubmitter : IAsyncDisposable
{
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(5);
    private readonly string _uri;
    private readonly ConcurrentQueue<string> _confirmed = new();
    private readonly SemaphoreSlim _gate = new(1, 1); // one publication at a time on the one channel
    private IConnection? _connection;
    private IChannel? _channel;
    private int _republished;

    public ConfirmingSubmitter(string uri) => _uri = uri;

    public IReadOnlyList<string> Confirmed => _confirmed.ToArray();

    /// <summary>Publications that failed or went unconfirmed and were sent again.</summary>
    public int Republished => _republished;

    /// <summary>Publishes <paramref name="task"/> until it is confirmed, or throws after <paramref name="giveUpAfter"/>.</summary>
    public async Task SubmitAsync(string taskId, object task, TimeSpan giveUpAfter)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(task);
        var deadline = DateTime.UtcNow + giveUpAfter;
        Exception? last = null;
        for (var attempt = 0; DateTime.UtcNow < deadline; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _republished);
                await Task.Delay(250);
            }
            await _gate.WaitAsync();
            try
            {
                using var timeout = new CancellationTokenSource(AttemptTimeout);
                var channel = await ChannelAsync(timeout.Token);
                var props = new BasicProperties { Persistent = true, MessageId = taskId, ContentType = "application/json" };
                await channel.BasicPublishAsync("", HiveTestBus.TaskQueue, mandatory: true, props, body, timeout.Token);
                _confirmed.Enqueue(taskId);
                return;
            }
            catch (Exception e)
            {
                last = e;
                await ResetAsync();
            }
            finally
            {
                _gate.Release();
            }
        }
        throw new TimeoutException($"task {taskId} not confirmed by the broker within {giveUpAfter}: {last?.Message}", last);
    }

    /// <summary>Submits tasks made by <paramref name="make"/> every <paramref name="every"/> until <paramref name="stop"/> fires.</summary>
    public Task RunAsync(Func<int, (string Id, object Task)> make, TimeSpan every, CancellationToken stop) => Task.Run(async () =>
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var (id, task) = make(i);
            await SubmitAsync(id, task, TimeSpan.FromMinutes(3));
            try { await Task.Delay(every, stop); }
            catch (OperationCanceledException) { }
        }
    });

    private async Task<IChannel> ChannelAsync(CancellationToken ct)
    {
        if (_channel is { IsOpen: true }) return _channel;
        await ResetAsync();
        // Our own reconnect loop (recovery off): a fresh connection per outage keeps what is confirmed unambiguous.
        _connection = await new ConnectionFactory { Uri = new Uri(_uri), AutomaticRecoveryEnabled = false, RequestedConnectionTimeout = AttemptTimeout }
            .CreateConnectionAsync(ct);
        _channel = await _connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct);
        await _channel.QueueDeclareAsync(HiveTestBus.TaskQueue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
        return _channel;
    }

    private async Task ResetAsync()
    {
        var (channel, connection) = (_channel, _connection);
        (_channel, _connection) = (null, null);
        try { if (channel is not null) await channel.DisposeAsync(); } catch (Exception) { }
        try { if (connection is not null) await connection.DisposeAsync(); } catch (Exception) { }
    }

    public ValueTask DisposeAsync() => new(ResetAsync());
}

/// <summary>
/// Every message published on hive.results, kept in a durable queue of the test's own (so results published around a
/// broker restart are neither missed nor seen twice by the observer) and read once, after the run has settled.
/// </summary>
public sealed class ResultLedger
{
    private readonly string _uri;

    private ResultLedger(string uri, string queue)
    {
        _uri = uri;
        Queue = queue;
    }

    public string Queue { get; }

    public static async Task<ResultLedger> DeclareAsync(string uri)
    {
        var queue = $"faults.results.{Guid.NewGuid():N}";
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("hive.results", ExchangeType.Topic, durable: true);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(queue, "hive.results", "#");
        return new ResultLedger(uri, queue);
    }

    /// <summary>Takes every result now in the queue.</summary>
    public async Task<IReadOnlyList<TaskResult>> DrainAsync()
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(_uri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var list = new List<TaskResult>();
        while (await channel.BasicGetAsync(Queue, autoAck: true) is { } got)
            if (ResultMessages.FromJson(got.Body.Span) is { } result) list.Add(result);
        return list;
    }
}

/// <summary>The checks every fault case ends with.</summary>
public static class Outcome
{
    /// <summary>Waits until every task's status document is final.</summary>
    public static async Task<IReadOnlyDictionary<string, TaskStatusDocument>> WaitAllFinalAsync(IDatabase redis, IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var finals = new Dictionary<string, TaskStatusDocument>();
        while (true)
        {
            foreach (var id in ids.Where(i => !finals.ContainsKey(i)))
            {
                try
                {
                    var value = await redis.StringGetAsync(RedisKeys.Task(id));
                    if (!value.IsNull && TaskStatusJson.FromJson(value.ToString()) is { } doc && doc.State.IsFinal()) finals[id] = doc;
                }
                // Right after a Redis restart the test's own connection may still be reconnecting: a timeout
                // (RedisTimeoutException is a TimeoutException, not a RedisException) means "ask again", like any other.
                catch (Exception e) when (e is RedisException or TimeoutException) { }
            }
            if (finals.Count == ids.Count) return finals;
            if (DateTime.UtcNow > deadline)
            {
                var missing = ids.Where(i => !finals.ContainsKey(i)).ToArray();
                var shown = new StringBuilder();
                foreach (var id in missing.Take(10))
                {
                    var value = await redis.StringGetAsync(RedisKeys.Task(id));
                    shown.Append('\n').Append(id).Append(": ").Append(value.IsNull ? "no status" : value.ToString());
                }
                throw new TimeoutException($"{missing.Length} of {ids.Count} tasks not final within {timeout}:{shown}");
            }
            await Task.Delay(200);
        }
    }

    /// <summary>Exactly one result per task; the status document's final state is the result's state.</summary>
    public static void AssertEachEndedOnce(IReadOnlyCollection<string> ids, IReadOnlyList<TaskResult> results,
        IReadOnlyDictionary<string, TaskStatusDocument> finals)
    {
        var byId = results.GroupBy(r => r.TaskId).ToDictionary(g => g.Key, g => g.ToArray());
        var problems = new List<string>();
        foreach (var id in ids)
        {
            var mine = byId.GetValueOrDefault(id) ?? [];
            if (mine.Length != 1)
                problems.Add($"{id}: {mine.Length} results ({string.Join(" | ", mine.Select(r => $"{r.State.ToWire()} attempt {r.Attempt} on {r.Node}: {r.Reason}"))})");
            else if (finals.TryGetValue(id, out var doc) && doc.State != mine[0].State)
                problems.Add($"{id}: status says {doc.State.ToWire()}, result says {mine[0].State.ToWire()}");
        }
        Assert.True(problems.Count == 0, $"{problems.Count} of {ids.Count} tasks did not end exactly once:\n{string.Join('\n', problems)}");
    }

    /// <summary>Waits until no process carries HIVE_TASK_ID of one of <paramref name="ids"/>; fails naming the survivors.</summary>
    public static async Task AssertNoScriptLeftAsync(IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyList<(int Pid, string TaskId)> left;
        while ((left = ScriptsOf(ids)).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.True(left.Count == 0, $"script processes left behind: {string.Join(", ", left.Select(l => $"pid {l.Pid} ({l.TaskId}, state {ProcessProbe.State(l.Pid)})"))}");
    }

    /// <summary>Live processes (not zombies) whose environment names one of the tasks: the scripts, their children, grandchildren.</summary>
    public static IReadOnlyList<(int Pid, string TaskId)> ScriptsOf(IReadOnlyCollection<string> ids)
    {
        var wanted = ids.Select(i => "HIVE_TASK_ID=" + i).ToHashSet(StringComparer.Ordinal);
        var found = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            string environ;
            try { environ = File.ReadAllText(Path.Combine(dir, "environ")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var entry in environ.Split('\0'))
                if (wanted.Contains(entry) && ProcessProbe.IsAlive(pid)) found.Add((pid, entry["HIVE_TASK_ID=".Length..]));
        }
        return found;
    }

    /// <summary>Cleanup after a failed case: SIGKILL whatever still runs for these tasks.</summary>
    public static void KillScriptsOf(IReadOnlyCollection<string> ids)
    {
        foreach (var (pid, _) in ScriptsOf(ids))
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
    }

    /// <summary>Retries <paramref name="action"/> (e.g. a publish on a connection that is still recovering) until it succeeds or time is up.</summary>
    public static async Task RetryAsync(Func<Task> action, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                await action();
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>Tasks whose status is not final right now (queued, running, paused, or not written yet).</summary>
    public static async Task<int> InFlightAsync(IDatabase redis, IEnumerable<string> ids)
    {
        var count = 0;
        foreach (var id in ids)
        {
            var value = await redis.StringGetAsync(RedisKeys.Task(id));
            if (value.IsNull || TaskStatusJson.FromJson(value.ToString()) is not { } doc || !doc.State.IsFinal()) count++;
        }
        return count;
    }
}

/// <summary>A stopwatch for fault timelines.</summary>
public static class Since
{
    public static string Seconds(Stopwatch clock) => clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
