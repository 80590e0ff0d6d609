using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using RabbitMQ.Client;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>
/// A backend written for the seed (the C++/Python tool Hive replaces) switches to Hive unchanged: it publishes to
/// <c>hive.mission</c> with the mission id as correlation-id, controls missions through the seed's direct exchange
/// <c>hive</c> (key <c>hive.state</c>), gets callbacks and Redis keys in the seed's shapes — and, unlike the seed,
/// learns when a command failed and never sees a broken message reported complete.
/// </summary>
public sealed class SeedCompatSpecs : IClassFixture<BrokersFixture>, IAsyncLifetime
{
    private const string MissionQueue = "hive.mission";
    private const string SeedExchange = "hive";
    private const string SeedRoutingKey = "hive.state";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private readonly BrokersFixture _brokers;
    private readonly List<(string Body, string Reason, string? MessageId)> _deadLetters = new();
    private HiveNodeProcess _node = null!;
    private HiveTestBus _bus = null!;

    public SeedCompatSpecs(BrokersFixture brokers) => _brokers = brokers;

    public async ValueTask InitializeAsync()
    {
        _bus = await HiveTestBus.ConnectAsync(_brokers);
        _node = await HiveNodeProcess.StartAsync(_brokers, guides: 2, extraHocon: """
            hive.rabbitmq.task-queue = "hive.mission"
            hive.tasks.allow-commands = on
            hive.redis.seed-compat = on
            hive.tasks.retry-backoff = 200ms
            hive.node.heartbeat-interval = 500ms
            """);
        // Exactly as the seed declares it (direct, not durable); any other declaration would be refused by the broker.
        await _bus.Channel.ExchangeDeclareAsync(SeedExchange, ExchangeType.Direct, durable: false, autoDelete: false);
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        await _bus.DisposeAsync();
    }

    [Fact]
    public async Task A_seed_mission_runs_its_command_in_loops_and_calls_back_with_the_seeds_fields_and_writes_the_seed_progress_key()
    {
        await using var backend = new CallbackListener();
        var marked = HiveTestBus.NewId("m");
        var plain = HiveTestBus.NewId("m");
        await PublishMissionAsync(marked, backend, new
        {
            command = "echo one; echo two", loop = 2, interval = 0, isMarkAllProgress = true, markProgressLength = 2, progressLength = 10,
        });
        await PublishMissionAsync(plain, backend, new { command = "echo one; echo two", loop = 2, interval = 0 });

        var accepted = await backend.WaitForAsync(r => r.Path == $"/accept/{marked}", Wait);
        Assert.Equal(marked, accepted.Json.GetProperty("missionId").GetString());
        Assert.Equal("accept", accepted.Json.GetProperty("state").GetString());
        Assert.False(string.IsNullOrEmpty(accepted.Json.GetProperty("workQueue").GetString()));

        // isMarkAllProgress: one result array per run (result0, result1), markProgressLength lines each.
        var done = (await backend.WaitForAsync(r => r.Path == $"/response/{marked}", Wait)).Json;
        Assert.Equal(marked, done.GetProperty("missionId").GetString());
        Assert.Equal("complete", done.GetProperty("state").GetString());
        Assert.False(string.IsNullOrEmpty(done.GetProperty("workQueue").GetString()));
        Assert.Equal(2, done.GetProperty("count").GetInt32());
        Assert.Equal(2, done.GetProperty("execute").GetInt32());
        Assert.Equal(["one", "two"], Lines(done.GetProperty("result0")));
        Assert.Equal(["one", "two"], Lines(done.GetProperty("result1")));
        Assert.False(done.TryGetProperty("result", out _));
        Assert.Equal("succeeded", done.GetProperty("hiveState").GetString());
        Assert.Equal(0, done.GetProperty("exitCode").GetInt32());

        // The seed's defaults: one result array of the last run's last line (markProgressLength 1).
        var plainDone = (await backend.WaitForAsync(r => r.Path == $"/response/{plain}", Wait)).Json;
        Assert.Equal("complete", plainDone.GetProperty("state").GetString());
        Assert.Equal(2, plainDone.GetProperty("execute").GetInt32());
        Assert.Equal(["two"], Lines(plainDone.GetProperty("result")));
        Assert.False(plainDone.TryGetProperty("result0", out _));

        // hive.progress-<missionId>: the seed's string key with the captured lines, the seed's state word and a TTL.
        var progress = await WaitForSeedProgressAsync(marked, p => p.State == "complete");
        Assert.Equal(marked, progress.MissionId);
        Assert.Contains("two", progress.Progress);
        Assert.InRange(progress.Timestamp, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(5));
        Assert.NotNull(await _bus.Redis.KeyTimeToLiveAsync(RedisKeys.SeedProgress(marked)));

        var published = await _bus.WaitForResultAsync(marked, Wait);
        Assert.Equal(TaskState.Succeeded, published.State);
        Assert.Equal(2, published.Runs);
    }

    [Fact]
    public async Task A_seed_stop_on_exchange_hive_with_key_hive_state_kills_the_running_command_and_the_callback_says_stop()
    {
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("m");
        await PublishMissionAsync(id, backend, new { command = "sleep 30" });
        var running = await _bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Pid is not null, Wait);
        var group = ProcFs.GroupMembers(running.Pid!.Value);
        Assert.NotEmpty(group);
        Assert.All(group, pid => Assert.True(ProcFs.IsAlive(pid)));

        var stopwatch = Stopwatch.StartNew();
        await SeedControlAsync(id, "stop");

        var done = (await backend.WaitForAsync(r => r.Path == $"/response/{id}", Wait)).Json;
        Assert.Equal(id, done.GetProperty("missionId").GetString());
        Assert.Equal("stop", done.GetProperty("state").GetString());
        Assert.Equal("stopped", done.GetProperty("hiveState").GetString());
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"the stop took {stopwatch.Elapsed}");
        var survivors = group.Where(ProcFs.IsAlive).ToArray();
        Assert.True(survivors.Length == 0, $"still alive after the stop callback: {string.Join(", ", survivors.Select(ProcFs.Describe))}");

        var final = await _bus.WaitForFinalAsync(id, Wait);
        Assert.Equal(TaskState.Stopped, final.State);
        Assert.Equal("stop", (await WaitForSeedProgressAsync(id, p => p.State == "stop")).State);
    }

    [Fact]
    public async Task A_seed_pause_freezes_the_command_and_a_seed_start_resumes_it()
    {
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("m");
        await PublishMissionAsync(id, backend, new { command = "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo tick $i; sleep 0.05; done", progressLength = 3 });
        var running = await _bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Pid is not null && s.TotalLines > 3, Wait);
        var leader = running.Pid!.Value;

        await SeedControlAsync(id, "pause");
        var paused = await _bus.WaitForStatusAsync(id, s => s.State == TaskState.Paused, Wait);
        // SIGSTOP takes effect when the process next leaves the kernel; a shell caught in a vfork stays in D (see IsFrozen).
        await ProcessProbe.WaitFrozenAsync(TimeSpan.FromSeconds(5), leader);
        await Task.Delay(TimeSpan.FromSeconds(1));
        var stillPaused = await _bus.StatusAsync(id);
        Assert.Equal(TaskState.Paused, stillPaused!.State);
        Assert.True(ProcessProbe.IsFrozen(leader), $"the paused command is in state {ProcFs.State(leader)}");
        var frozenAt = stillPaused.TotalLines;
        await Task.Delay(TimeSpan.FromMilliseconds(700));
        Assert.Equal(frozenAt, (await _bus.StatusAsync(id))!.TotalLines);
        Assert.Equal("pause", (await WaitForSeedProgressAsync(id, p => p.State == "pause")).State);

        await SeedControlAsync(id, "start");
        await _bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.TotalLines > frozenAt + 3, Wait);
        Assert.NotEqual('T', ProcFs.State(leader));

        await SeedControlAsync(id, "stop");
        var done = (await backend.WaitForAsync(r => r.Path == $"/response/{id}", Wait)).Json;
        Assert.Equal("stop", done.GetProperty("state").GetString());
        Assert.True(paused.TotalLines <= frozenAt);
    }

    [Fact]
    public async Task Unlike_the_seed_a_failing_command_is_reported_failed_with_its_exit_code()
    {
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("m");
        await PublishMissionAsync(id, backend, new { command = "echo about to fail; exit 4", markProgressLength = 1 });

        var done = (await backend.WaitForAsync(r => r.Path == $"/response/{id}", Wait)).Json;
        Assert.Equal(id, done.GetProperty("missionId").GetString());
        Assert.Equal("failed", done.GetProperty("hiveState").GetString());
        Assert.Equal(4, done.GetProperty("exitCode").GetInt32());
        Assert.Contains("4", done.GetProperty("reason").GetString());
        Assert.Equal(["about to fail"], Lines(done.GetProperty("result")));

        var published = await _bus.WaitForResultAsync(id, Wait);
        Assert.Equal(TaskState.Failed, published.State);
        Assert.Equal(4, published.ExitCode);
        Assert.Equal(published.MaxAttempts, published.Attempt);
        var final = await _bus.WaitForFinalAsync(id, Wait);
        Assert.Equal(TaskState.Failed, final.State);
        Assert.Equal(4, final.ExitCode);
        Assert.Single(backend.Requests, r => r.Path == $"/response/{id}");
    }

    [Fact]
    public async Task Unlike_the_seed_a_body_that_is_not_json_is_dead_lettered_with_its_reason_instead_of_reported_complete()
    {
        var id = HiveTestBus.NewId("m");
        var body = $"missionId={id}; this is not json";
        await _bus.PublishRawAsync(Encoding.UTF8.GetBytes(body), new BasicProperties { CorrelationId = id }, MissionQueue);

        var dead = await WaitForDeadLetterAsync(d => d.Body == body);
        Assert.Contains("not valid JSON", dead.Reason);

        var rejected = await _bus.WaitForResultAsync(id, Wait);
        Assert.Equal(TaskState.Rejected, rejected.State);
        Assert.Contains("not valid JSON", rejected.Reason);
    }

    [Fact]
    public async Task A_seed_command_on_a_node_without_allow_commands_is_dead_lettered_with_a_reason_naming_the_setting()
    {
        const string lockedQueue = "hive.mission.locked";
        await using var locked = await HiveNodeProcess.StartAsync(_brokers, guides: 1, extraHocon: $"""
            hive.rabbitmq.task-queue = "{lockedQueue}"
            hive.redis.seed-compat = on
            """);
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("m");
        await PublishMissionAsync(id, backend, new { command = "echo should never run" }, lockedQueue);

        var dead = await WaitForDeadLetterAsync(d => d.Body.Contains(id, StringComparison.Ordinal));
        Assert.Contains("hive.tasks.allow-commands", dead.Reason);
        Assert.Contains("target.command", dead.Reason);

        var rejected = await _bus.WaitForResultAsync(id, Wait);
        Assert.Equal(TaskState.Rejected, rejected.State);
        Assert.Contains("hive.tasks.allow-commands", rejected.Reason);
        Assert.DoesNotContain(backend.Requests, r => r.Path == $"/accept/{id}");
        var status = await _bus.WaitForFinalAsync(id, Wait);
        Assert.Equal(TaskState.Rejected, status.State);
        Assert.Empty(status.Lines);
    }

    [Fact]
    public async Task With_seed_compat_the_node_publishes_its_guides_in_the_seed_watchdog_hash_of_its_ip()
    {
        var ip = FirstNonLoopbackIPv4();
        var key = RedisKeys.SeedWatchdog(ip);
        var fields = new[] { $"{_node.Name}/guide-1", $"{_node.Name}/guide-2" };

        await WaitUntilAsync(async () => (await _bus.Redis.HashKeysAsync(key)).Select(k => k.ToString()).Intersect(fields).Count() == 2,
            $"{key} holds fields {string.Join(", ", fields)}");
        foreach (var field in fields)
        {
            var entry = SeedRedisShapes.ParseWatchdogValue((await _bus.Redis.HashGetAsync(key, field)).ToString());
            Assert.NotNull(entry);
            Assert.Equal(field, entry.Value.Identity);
            Assert.Equal(ip, entry.Value.HostIp);
            Assert.Equal(Environment.MachineName, entry.Value.HostName);
            Assert.Equal(_node.Pid, entry.Value.Pid);
            Assert.Equal("wait", entry.Value.SeedState);
            Assert.InRange(entry.Value.TimeStamp, DateTimeOffset.UtcNow.AddSeconds(-10), DateTimeOffset.UtcNow.AddSeconds(5));
        }

        // A busy guide shows the seed's "start" and its script's pid.
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("m");
        await PublishMissionAsync(id, backend, new { command = "sleep 30" });
        var running = await _bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Pid is not null, Wait);
        var busyField = $"{_node.Name}/{running.Guide}";
        await WaitUntilAsync(async () =>
                SeedRedisShapes.ParseWatchdogValue((await _bus.Redis.HashGetAsync(key, busyField)).ToString()) is { SeedState: "start" } e && e.Pid == running.Pid,
            $"{busyField} shows state start and pid {running.Pid}");

        await SeedControlAsync(id, "stop");
        await backend.WaitForAsync(r => r.Path == $"/response/{id}", Wait);
        await WaitUntilAsync(async () =>
                SeedRedisShapes.ParseWatchdogValue((await _bus.Redis.HashGetAsync(key, busyField)).ToString()) is { SeedState: "wait" },
            $"{busyField} back to wait");
    }

    private async Task PublishMissionAsync(string missionId, CallbackListener backend, object target, string queue = MissionQueue)
    {
        // The seed's body, byte for byte what a seed backend sends; the mission id also rides in the correlation-id.
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            missionId, acceptUrl = backend.Url($"accept/{missionId}"), responseUrl = backend.Url($"response/{missionId}"), target,
        });
        await _bus.PublishRawAsync(body, new BasicProperties { CorrelationId = missionId }, queue);
    }

    private async Task SeedControlAsync(string missionId, string action)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { action });
        await _bus.Channel.BasicPublishAsync(SeedExchange, SeedRoutingKey, mandatory: false, new BasicProperties { CorrelationId = missionId }, body);
    }

    private async Task<SeedProgress> WaitForSeedProgressAsync(string missionId, Func<SeedProgress, bool> match)
    {
        SeedProgress? last = null;
        await WaitUntilAsync(async () =>
        {
            var value = await _bus.Redis.StringGetAsync(RedisKeys.SeedProgress(missionId));
            last = value.IsNull ? null : SeedRedisShapes.ParseProgressValue(value.ToString());
            return last is not null && match(last);
        }, $"{RedisKeys.SeedProgress(missionId)} matches");
        return last!;
    }

    private async Task<(string Body, string Reason, string? MessageId)> WaitForDeadLetterAsync(Func<(string Body, string Reason, string? MessageId), bool> match)
    {
        (string Body, string Reason, string? MessageId)? found = null;
        await WaitUntilAsync(async () =>
        {
            _deadLetters.AddRange(await _bus.DrainDeadLettersAsync());
            found = _deadLetters.FirstOrDefault(match);
            return found is { Body: not null };
        }, "the message reaches hive.tasks.dead");
        return found!.Value;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"not within {Wait}: {what}");
    }

    private static string[] Lines(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();

    /// <summary>Independently of the product: the host's first non-loopback IPv4, else 127.0.0.1.</summary>
    private static string FirstNonLoopbackIPv4() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus != OperationalStatus.Down && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))?.ToString()
        ?? IPAddress.Loopback.ToString();
}
