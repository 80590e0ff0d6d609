using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Xunit;
using static Hive.Tests.Hardening.HardeningProbes;

namespace Hive.Tests.Hardening;

/// <summary>
/// 10,000 generated malformed task messages and thousands of hostile control messages published to a real node whose
/// tasks folder holds symlinks that escape it, while good tasks (some with shell metacharacters in their args) run:
/// every malformed task is dead-lettered with its reason, nothing runs outside tasks/, no shell runs task data, the
/// good tasks are not disturbed, and the node's memory comes back down.
/// </summary>
public sealed class HostileInputFuzzSpecs : IClassFixture<BrokersFixture>, IAsyncLifetime
{
    public const int MalformedTasks = 10_000;
    public const int HostileControls = 4_000;
    private const int MaxBodyBytes = 64 * 1024;
    private readonly BrokersFixture _brokers;
    private readonly string _outside = Directory.CreateTempSubdirectory("hive-fuzz-outside-").FullName;
    private readonly string _tasks = Directory.CreateTempSubdirectory("hive-fuzz-tasks-").FullName;
    private readonly List<IConnection> _connections = new();
    private HiveTestBus _bus = null!;
    private HardenedNode _node = null!;

    public HostileInputFuzzSpecs(BrokersFixture brokers) => _brokers = brokers;

    private string CanaryMarker => Path.Combine(_outside, "CANARY-RAN");
    private string InjectionMarker => Path.Combine(_outside, "INJECTED");

    public async ValueTask InitializeAsync()
    {
        // Scripts outside tasks/ that leave a marker if anything ever runs them.
        foreach (var (name, interpreter) in new[] { ("canary.sh", "#!/usr/bin/env bash"), ("canary", "#!/bin/sh"), ("canary.py", "#!/usr/bin/env python3") })
        {
            var path = Path.Combine(_outside, name);
            var body = name.EndsWith(".py", StringComparison.Ordinal)
                ? $"open({JsonSerializer.Serialize(CanaryMarker)}, 'a').write('{name}\\n')\n"
                : $"echo {name} >> '{CanaryMarker}'\n";
            await File.WriteAllTextAsync(path, interpreter + "\n" + body);
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
        // A copy of tasks/ with links that leave it (absolute and relative), which the node must refuse.
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Tasks)) File.Copy(file, Path.Combine(_tasks, Path.GetFileName(file)));
        File.CreateSymbolicLink(Path.Combine(_tasks, "escape.sh"), Path.Combine(_outside, "canary.sh"));
        File.CreateSymbolicLink(Path.Combine(_tasks, "escape-exe"), Path.Combine(_outside, "canary"));
        File.CreateSymbolicLink(Path.Combine(_tasks, "escape-rel.py"), Path.Combine("..", Path.GetFileName(_outside), "canary.py"));
        Directory.CreateSymbolicLink(Path.Combine(_tasks, "escape-dir"), _outside);

        _bus = await HiveTestBus.ConnectAsync(_brokers);
        _node = await HardenedNode.StartAsync(new HardenedNode.Options(_brokers.Rabbit.Uri, _brokers.Redis.ConnectionString)
        {
            Guides = 2,
            TasksDir = _tasks,
            ExtraHocon = $"""
                hive.tasks.max-body-bytes = {MaxBodyBytes}
                hive.redis.progress-interval = 200ms
                """,
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
        if (_bus is not null) await _bus.DisposeAsync();
        foreach (var connection in _connections) await connection.DisposeAsync();
        foreach (var dir in new[] { _tasks, _outside })
            try { Directory.Delete(dir, true); } catch (IOException) { }
    }

    [Fact]
    public async Task Ten_thousand_malformed_tasks_and_hostile_controls_are_each_rejected_with_a_reason_nothing_escapes_and_good_tasks_run_undisturbed()
    {
        var ct = TestContext.Current.CancellationToken;
        // The dead-letter queue, consumed as it fills.
        var dead = new ConcurrentDictionary<int, string>();
        var unknownDead = new ConcurrentBag<string>();
        await using var deadChannel = await ConnectChannelAsync(confirms: false);
        var deadConsumer = new AsyncEventingBasicConsumer(deadChannel);
        deadConsumer.ReceivedAsync += (_, e) =>
        {
            var headers = e.BasicProperties.Headers;
            var reason = headers?.TryGetValue("x-hive-reason", out var r) == true && r is byte[] rb ? Encoding.UTF8.GetString(rb) : "";
            if (headers?.TryGetValue("x-fuzz", out var f) == true && f is byte[] fb && int.TryParse(Encoding.ASCII.GetString(fb), out var seq))
                dead[seq] = reason;
            else
                unknownDead.Add(Encoding.UTF8.GetString(e.Body.Span));
            return Task.CompletedTask;
        };
        await deadChannel.BasicConsumeAsync(HiveTestBus.DeadLetterQueue, autoAck: true, deadConsumer, ct);
        await using var publisher = await ConnectChannelAsync(confirms: true);
        var random = new Random(20251127);

        // Warm up (JIT, connections, a script run, the rejection path with 500 malformed messages of every kind), then
        // take the baselines: what stays after 10,000 more is what the flood leaves behind, not what a first one costs.
        var warm = HiveTestBus.NewId("warm");
        await _bus.PublishTaskAsync(new { taskId = warm, script = "trivial" });
        await AssertOneFinalEndAsync(_bus, warm, TimeSpan.FromSeconds(60));
        var warmup = new HostileTaskGenerator(new Random(1), MaxBodyBytes, "warm-live-id", InjectionMarker);
        await PublishMalformedAsync(publisher, warmup, WarmupSeq, WarmupSeq + 500, ct);
        var warmDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (dead.Keys.Count(k => k >= WarmupSeq) < 500 && DateTime.UtcNow < warmDeadline) await Task.Delay(200, ct);
        await Task.Delay(3000, ct);
        var rssBefore = _node.VmRssKiB();
        var keysBefore = (long)await _bus.Redis.ExecuteAsync("DBSIZE");

        // Good tasks: a long ticker, and scripts whose args carry shell metacharacters aimed at the injection marker.
        var ticker = HiveTestBus.NewId("good-ticker");
        await _bus.PublishTaskAsync(new { taskId = ticker, script = "ticker", args = new { ticks = 120, interval = 0.1 }, maxAttempts = 1 });
        await _bus.WaitForStatusAsync(ticker, s => s.State == TaskState.Running && s.TotalLines >= 1, TimeSpan.FromSeconds(60));
        var injections = new List<string>();
        foreach (var payload in ShellPayloads(InjectionMarker))
        {
            foreach (var script in new[] { "sample-sh", "sample" })
            {
                var id = HiveTestBus.NewId("good-inject");
                injections.Add(id);
                await _bus.PublishTaskAsync(new { taskId = id, script, args = new { steps = 1, delay = 0, x = payload, nested = new[] { payload } }, maxAttempts = 1 });
            }
        }

        using var sampling = new CancellationTokenSource();
        var rssPeak = _node.SampleMaxRssAsync(TimeSpan.FromMilliseconds(200), sampling.Token);
        var generator = new HostileTaskGenerator(random, MaxBodyBytes, ticker, InjectionMarker);
        var malformedIds = new List<string>();
        var clock = Stopwatch.StartNew();
        var kinds = new Dictionary<string, int>();
        for (var start = 0; start < MalformedTasks; start += 250)
        {
            foreach (var message in await PublishMalformedAsync(publisher, generator, start, Math.Min(MalformedTasks, start + 250), ct))
            {
                kinds[message.Kind] = kinds.GetValueOrDefault(message.Kind) + 1;
                if (message.TaskId is { } id && id != ticker) malformedIds.Add(id);
            }
            // Hostile controls interleaved with the tasks.
            await PublishControlsAsync(publisher, random, HostileControls * 250 / MalformedTasks, ticker, malformedIds, ct);
        }
        var published = clock.Elapsed;

        int Counted() => dead.Keys.Count(k => k < MalformedTasks);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (Counted() < MalformedTasks && DateTime.UtcNow < deadline) await Task.Delay(200, ct);
        var drained = clock.Elapsed;

        // The good tasks ran to their ends, undisturbed.
        var (tickerStatus, tickerResult) = await AssertOneFinalEndAsync(_bus, ticker, TimeSpan.FromSeconds(120));
        Assert.Equal(TaskState.Succeeded, tickerStatus.State);
        Assert.Equal(1, tickerResult.Attempt);
        Assert.Equal("{\"ticks\":120}", tickerResult.Result?.GetRawText());
        var tickerEvents = (await _bus.Redis.StreamRangeAsync(RedisKeys.Events)).Where(e => e["taskId"] == ticker).Select(e => e["event"].ToString()).ToArray();
        Assert.DoesNotContain("paused", tickerEvents);
        Assert.DoesNotContain("stopped", tickerEvents);
        foreach (var id in injections)
            Assert.Equal(TaskState.Succeeded, (await AssertOneFinalEndAsync(_bus, id, TimeSpan.FromSeconds(120))).Status.State);

        await sampling.CancelAsync();
        var peak = await rssPeak;

        // Every malformed task was dead-lettered exactly with a reason; nothing else was.
        Assert.True(Counted() == MalformedTasks, $"{Counted()} of {MalformedTasks} malformed tasks dead-lettered within the deadline; missing e.g. " +
            string.Join(", ", Enumerable.Range(0, MalformedTasks).Where(i => !dead.ContainsKey(i)).Take(10).Select(i => $"#{i} {generator.Describe(i)}")));
        Assert.Empty(unknownDead);
        var unexplained = dead.Where(d => string.IsNullOrWhiteSpace(d.Value)).Select(d => d.Key).Take(10).ToArray();
        Assert.True(unexplained.Length == 0, "dead letters without x-hive-reason: " + string.Join(", ", unexplained));
        // No malformed message ran anything: no result for its id other than 'rejected'.
        var ran = _bus.Results.Where(r => r.Result.State != TaskState.Rejected && !injections.Contains(r.Result.TaskId) && r.Result.TaskId != ticker && r.Result.TaskId != warm)
            .Select(r => $"{r.Result.TaskId}={r.Result.State.ToWire()}").Take(10).ToArray();
        Assert.True(ran.Length == 0, "malformed messages ended otherwise than rejected: " + string.Join(", ", ran));
        Assert.False(File.Exists(CanaryMarker), $"a script outside tasks/ ran: {(File.Exists(CanaryMarker) ? File.ReadAllText(CanaryMarker) : "")}");
        Assert.False(File.Exists(InjectionMarker), "a shell ran task data");
        Assert.True(_node.IsRunning);

        // Memory comes back: after a quiet period, the node's VmRSS is within 30% of where it was before the flood.
        await Task.Delay(TimeSpan.FromSeconds(10), ct);
        var rssAfter = _node.VmRssKiB();
        var keysAfter = (long)await _bus.Redis.ExecuteAsync("DBSIZE");
        Report($"published {MalformedTasks} malformed tasks + {HostileControls} hostile controls in {published.TotalSeconds:0.0} s " +
               $"(kinds: {string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}); all dead-lettered after {drained.TotalSeconds:0.0} s; " +
               $"node VmRSS before {rssBefore / 1024.0:0} MiB, peak {peak / 1024.0:0} MiB, after 10 s quiet {rssAfter / 1024.0:0} MiB; " +
               $"Redis keys {keysBefore} before, {keysAfter} after (rejected statuses with a TTL, and the persisted cancels of stops for unknown ids)");
        Assert.True(rssAfter <= rssBefore * 1.3, $"VmRSS {rssAfter} KiB after the fuzz vs {rssBefore} KiB before (peak {peak} KiB)");
    }

    private const int WarmupSeq = 1_000_000;

    /// <summary>Publishes the generator's messages <paramref name="from"/> (inclusive) to <paramref name="to"/>, tagged x-fuzz = seq, all confirmed.</summary>
    private static async Task<IReadOnlyList<HostileTask>> PublishMalformedAsync(IChannel channel, HostileTaskGenerator generator, int from, int to, CancellationToken ct)
    {
        var messages = new List<HostileTask>();
        var publishes = new List<Task>();
        for (var seq = from; seq < to; seq++)
        {
            var message = generator.Next(seq);
            messages.Add(message);
            var props = new BasicProperties
            {
                Persistent = true, MessageId = message.MessageId, CorrelationId = message.CorrelationId,
                Headers = new Dictionary<string, object?> { ["x-fuzz"] = Encoding.ASCII.GetBytes(seq.ToString(System.Globalization.CultureInfo.InvariantCulture)) },
            };
            publishes.Add(channel.BasicPublishAsync("", HiveTestBus.TaskQueue, mandatory: false, props, message.Body, ct).AsTask());
        }
        await Task.WhenAll(publishes);
        return messages;
    }

    /// <summary>Arguments that would create the marker if any shell ever interpreted them.</summary>
    public static IEnumerable<string> ShellPayloads(string marker) =>
    [
        $"$(touch {marker})",
        $"`touch {marker}`",
        $"; touch {marker}",
        $"' ; touch {marker}; echo '",
        $"\" ; touch {marker}; echo \"",
        $"| touch {marker}",
        $"&& touch {marker}",
        $"\n touch {marker}",
        $"${{IFS}}touch${{IFS}}{marker}",
        $"__import__('os').system('touch {marker}')",
    ];

    private async Task PublishControlsAsync(IChannel channel, Random random, int count, string ticker, List<string> otherIds, CancellationToken ct)
    {
        var publishes = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            var other = otherIds.Count > 0 && random.Next(3) > 0 ? otherIds[random.Next(otherIds.Count)] : "unknown-" + random.Next(1_000_000);
            var (exchange, routingKey, body, correlation) = (random.Next(10)) switch
            {
                0 => ("hive.control", "", RandomBytes(random, 0, 200), (string?)null),
                1 => ("hive.control", "", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { taskId = random.Next(), action = "stop" })), null),
                // Unknown actions, even for the running good task, are refused.
                2 => ("hive.control", "", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { taskId = ticker, action = new[] { "explode", "kill -9", "", "stop;", "$(touch x)" }[random.Next(5)] })), null),
                3 => ("hive.control", "", Encoding.UTF8.GetBytes($"{{\"taskId\": \"{ticker}\", \"action\": {new string('[', 5000)}"), null),
                4 => ("hive.control", "", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { taskId = other, action = new[] { "pause", "resume", "message" }[random.Next(3)], data = new { x = "$(touch x)" } })), null),
                // A stop for an id that is not running here cancels that id cluster-wide (it may still be queued).
                5 => ("hive.control", "", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { taskId = other, action = "stop", by = "fuzz" })), null),
                6 => ("hive.control", "", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { taskId = new string('x', 100_000), action = "stop" })), null),
                7 => ("hive", "hive.state", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { action = new[] { "stop", "pause", "start", "update", "boom" }[random.Next(5)] })), other),
                8 => ("hive", "hive.state", RandomBytes(random, 0, 100), random.Next(2) == 0 ? null : other),
                _ => ("hive.control", "", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { taskId = (string?)null, action = "pause" })), null),
            };
            var props = new BasicProperties { CorrelationId = correlation };
            publishes.Add(channel.BasicPublishAsync(exchange, routingKey, mandatory: false, props, body, ct).AsTask());
        }
        await Task.WhenAll(publishes);
    }

    private static byte[] RandomBytes(Random random, int min, int max)
    {
        var bytes = new byte[random.Next(min, max)];
        random.NextBytes(bytes);
        return bytes;
    }

    private async Task<IChannel> ConnectChannelAsync(bool confirms)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(_brokers.Rabbit.Uri) }.CreateConnectionAsync();
        _connections.Add(connection);
        return await connection.CreateChannelAsync(new CreateChannelOptions(confirms, confirms));
    }
}
