using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using RabbitMQ.Client;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>
/// How a real node fails: scripts that fail or time out, a guide that throws, and messages that cannot be tasks.
/// Nothing is lost, every end is reported once, and the node keeps serving.
/// </summary>
public sealed class FailureSpecs : IClassFixture<FailureSpecs.NodeFixture>
{
    private const int MaxBodyBytes = 4096;
    private readonly NodeFixture _fixture;

    public FailureSpecs(NodeFixture fixture) => _fixture = fixture;

    private HiveTestBus Bus => _fixture.Bus;

    /// <summary>One node with 4 guides, fast retries, a small body limit and fault injection on.</summary>
    public sealed class NodeFixture : SharedNodeFixture
    {
        public NodeFixture() : base(guides: 4, $"""
            hive.node.allow-fault-injection = on
            hive.tasks.retry-backoff = 200ms
            hive.tasks.max-body-bytes = {MaxBodyBytes}
            """) { }
    }

    [Fact]
    public async Task A_failing_script_is_retried_up_to_max_attempts_then_ends_failed_with_one_result_and_a_failed_callback()
    {
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("fail");
        await Bus.PublishTaskAsync(new { taskId = id, script = "fail", maxAttempts = 3, responseUrl = backend.Url("done") });

        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Failed, final.State);
        Assert.Equal(3, final.ExitCode);
        Assert.Equal(3, final.Attempt);

        var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Failed, result.State);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal(3, result.Attempt);
        Assert.Equal(3, result.MaxAttempts);

        var done = await backend.WaitForAsync(r => r.Path == "/done", TimeSpan.FromSeconds(10));
        Assert.Equal("failed", done.Json.GetProperty("state").GetString());
        Assert.Equal($"{id}:3:finished", done.Headers["Idempotency-Key"]);

        await Task.Delay(1000);
        Assert.Single(Bus.ResultsFor(id));
        Assert.Single(backend.Requests, r => r.Path == "/done");
        Assert.Equal(3, (await _fixture.EventsOfAsync(id)).Count(e => e == "started"));
    }

    [Fact]
    public async Task A_timeout_ends_the_task_timed_out_kills_its_processes_and_is_not_retried()
    {
        var id = HiveTestBus.NewId("timeout");
        // 3 s leaves room, on a loaded machine, to see the run (and its pids) before the timeout ends it.
        await Bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 30 }, timeoutSeconds = 3, maxAttempts = 3 });
        var (pid, grandchild) = await SharedNodeFixture.SleepingTreeAsync(Bus, id);

        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(TaskState.TimedOut, final.State);
        Assert.Equal(1, final.Attempt);
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(5), pid, grandchild);

        var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.TimedOut, result.State);
        Assert.Equal(1, result.Attempt);
        Assert.Contains("timed out", result.Reason);

        // No second attempt follows.
        await Task.Delay(1500);
        var later = await Bus.StatusAsync(id);
        Assert.Equal(TaskState.TimedOut, later!.State);
        Assert.Equal(1, later.Attempt);
        Assert.Single(Bus.ResultsFor(id));
        Assert.Equal(1, (await _fixture.EventsOfAsync(id)).Count(e => e == "started"));
    }

    [Fact]
    public async Task A_guide_that_throws_is_restarted_its_script_is_killed_and_its_task_is_retried_not_lost()
    {
        var id = HiveTestBus.NewId("crash");
        await Bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 4 }, maxAttempts = 2 });
        var (pid, grandchild) = await SharedNodeFixture.SleepingTreeAsync(Bus, id);

        await Bus.ControlAsync(id, "message", new { hiveFault = "crash-guide" });
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(5), pid, grandchild);

        var retried = await Bus.WaitForStatusAsync(id, s => s.Attempt == 2 && s.State == TaskState.Running && s.Pid is not null, TimeSpan.FromSeconds(15));
        Assert.NotEqual(pid, retried.Pid);
        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(TaskState.Succeeded, final.State);
        Assert.Equal(2, final.Attempt);
        var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Succeeded, result.State);
        Assert.Equal(2, result.Attempt);
        Assert.Single(Bus.ResultsFor(id));
        Assert.Contains(_fixture.Node.Log.Split('\n'), l => l.Contains("guide crashed", StringComparison.Ordinal) || l.Contains("InjectedGuideFault", StringComparison.Ordinal));

        // Every guide, the restarted one included, still runs tasks: as many at once as there are guides.
        var ids = Enumerable.Range(0, _fixture.Node.Guides).Select(_ => HiveTestBus.NewId("after-crash")).ToArray();
        foreach (var next in ids)
            await Bus.PublishTaskAsync(new { taskId = next, script = "sleep", args = new { seconds = 3 } });
        var guides = new HashSet<string>();
        foreach (var next in ids)
            guides.Add((await Bus.WaitForStatusAsync(next, s => s.State == TaskState.Running && s.Guide is not null, TimeSpan.FromSeconds(15))).Guide!);
        Assert.Equal(_fixture.Node.Guides, guides.Count);
        foreach (var next in ids)
            Assert.Equal(TaskState.Succeeded, (await Bus.WaitForFinalAsync(next, TimeSpan.FromSeconds(20))).State);
    }

    [Fact]
    public async Task Each_kind_of_malformed_message_is_dead_lettered_with_its_reason_while_good_tasks_keep_flowing()
    {
        string Id() => HiveTestBus.NewId("bad");
        var oversizeId = Id();
        var badJsonId = Id();
        var unknownId = Id();
        var dotsId = Id();
        var rootedId = Id();
        var typesId = Id();
        var commandId = Id();
        var schemaId = Id();
        var cases = new List<BadMessage>
        {
            new("bad JSON", $$"""{"taskId": "{{badJsonId}}", "script": """, "not valid JSON", badJsonId, MessageId: badJsonId),
            new("JSON that is not an object", "[1, 2, 3]", "expected an object"),
            new("missing id", """{"script": "sample"}""", "taskId is missing"),
            new("unknown script", $$"""{"taskId": "{{unknownId}}", "script": "no-such-script"}""", "unknown script", unknownId),
            new("a relative path", $$"""{"taskId": "{{dotsId}}", "script": "../etc/passwd"}""", "would leave tasks/", dotsId),
            new("an absolute path", $$"""{"taskId": "{{rootedId}}", "script": "/etc/passwd"}""", "would leave tasks/", rootedId),
            new("a wrong type", $$"""{"taskId": "{{typesId}}", "script": "sample", "maxAttempts": "three"}""", "maxAttempts must be", typesId),
            new("oversize", JsonSerializer.Serialize(new { taskId = oversizeId, script = "sample", args = new { pad = new string('x', 10 * 1024) } }),
                $"the limit is {MaxBodyBytes}", oversizeId, MessageId: oversizeId),
            new("a command without allow-commands", $$$"""{"missionId": "{{{commandId}}}", "target": {"command": "cat /etc/passwd"}}""",
                "hive.tasks.allow-commands = off", commandId),
            new("args that break the script's argsSchema (tasks/wordcount.json)",
                $$$"""{"taskId": "{{{schemaId}}}", "script": "wordcount", "args": {"text": 5}}""", "args/text", schemaId),
        };

        var good = new List<string>();
        foreach (var bad in cases)
        {
            var props = new BasicProperties { MessageId = bad.MessageId };
            await Bus.PublishRawAsync(Encoding.UTF8.GetBytes(bad.Body), props);
            var goodId = HiveTestBus.NewId("good");
            good.Add(goodId);
            await Bus.PublishTaskAsync(new { taskId = goodId, script = "trivial" });
        }

        foreach (var goodId in good)
            Assert.Equal(TaskState.Succeeded, (await Bus.WaitForFinalAsync(goodId, TimeSpan.FromSeconds(30))).State);

        var dead = new List<(string Body, string Reason, string? MessageId)>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (dead.Count < cases.Count && DateTime.UtcNow < deadline)
        {
            dead.AddRange(await Bus.DrainDeadLettersAsync());
            await Task.Delay(100);
        }
        Assert.Equal(cases.Count, dead.Count);
        foreach (var bad in cases)
        {
            var letter = Assert.Single(dead, d => d.Body == bad.Body);
            Assert.True(letter.Reason.Contains(bad.ReasonNames, StringComparison.Ordinal), $"{bad.Kind}: reason \"{letter.Reason}\" does not name \"{bad.ReasonNames}\"");
            if (bad.TaskId is null) continue;
            var rejected = await Bus.WaitForResultAsync(bad.TaskId, TimeSpan.FromSeconds(10));
            Assert.Equal(TaskState.Rejected, rejected.State);
            Assert.Contains(bad.ReasonNames, rejected.Reason);
        }
        foreach (var goodId in good)
            Assert.Equal(TaskState.Succeeded, (await Bus.WaitForResultAsync(goodId, TimeSpan.FromSeconds(10))).State);
        Assert.NotNull(_fixture.Node.Pid);
        Assert.Equal(0u, await Bus.QueueDepthAsync());
    }

    [Fact]
    public async Task A_task_the_api_marked_queued_that_this_node_cannot_run_is_reported_rejected_not_left_queued()
    {
        // The HTTP API (on a node whose tasks/ has the script) wrote the queued placeholder; this node lacks the script.
        var id = HiveTestBus.NewId("placeholder");
        var now = DateTimeOffset.UtcNow;
        var placeholder = new TaskStatusDocument(id, "only-elsewhere", TaskState.Queued, null, null, 0, null, null, [], 0, now, null, now,
            null, "submitted through the API; waiting for a free guide", null, null);
        await Bus.Redis.StringSetAsync(RedisKeys.Task(id), TaskStatusJson.ToJson(placeholder), TimeSpan.FromMinutes(5));

        await Bus.PublishRawAsync(Encoding.UTF8.GetBytes($$"""{"taskId": "{{id}}", "script": "only-elsewhere"}"""), new BasicProperties());

        var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(TaskState.Rejected, result.State);
        Assert.Contains("unknown script", result.Reason);
        Assert.Equal(TaskState.Rejected, (await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(10))).State);
        await Bus.DrainDeadLettersAsync();
    }

    [Fact]
    public async Task A_script_s_manifest_sets_the_defaults_of_a_task_that_does_not_set_its_own()
    {
        var defaults = HiveTestBus.NewId("manifest");
        var own = HiveTestBus.NewId("manifest-own");
        await Bus.PublishTaskAsync(new { taskId = defaults, script = "wordcount", args = new { text = "to be or not to be", top = 1 } });
        await Bus.PublishTaskAsync(new { taskId = own, script = "wordcount", args = new { text = "x" }, maxAttempts = 4 });

        var result = await Bus.WaitForResultAsync(defaults, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Succeeded, result.State);
        Assert.Equal(2, result.MaxAttempts); // tasks/wordcount.json; the node's default is 3
        Assert.Equal(6, result.Result!.Value.GetProperty("words").GetInt32());
        Assert.Equal("to", result.Result.Value.GetProperty("top")[0].GetProperty("word").GetString());
        Assert.Equal(4, (await Bus.WaitForResultAsync(own, TimeSpan.FromSeconds(30))).MaxAttempts);
    }

    private sealed record BadMessage(string Kind, string Body, string ReasonNames, string? TaskId = null, string? MessageId = null);
}
