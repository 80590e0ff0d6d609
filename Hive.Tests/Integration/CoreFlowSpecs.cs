using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using RabbitMQ.Client;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>A backend's everyday path through one real node: submit, progress, result, callbacks.</summary>
public sealed class CoreFlowSpecs : IClassFixture<BrokersFixture>, IAsyncLifetime
{
    private readonly BrokersFixture _brokers;
    private HiveNodeProcess _node = null!;
    private HiveTestBus _bus = null!;

    public CoreFlowSpecs(BrokersFixture brokers) => _brokers = brokers;

    public async ValueTask InitializeAsync()
    {
        _bus = await HiveTestBus.ConnectAsync(_brokers);
        _node = await HiveNodeProcess.StartAsync(_brokers, guides: 2);
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        await _bus.DisposeAsync();
    }

    [Fact]
    public async Task A_task_runs_shows_progress_in_redis_succeeds_and_its_result_reaches_the_callback_the_results_exchange_and_reply_to()
    {
        await using var backend = new CallbackListener();
        var replyQueue = await _bus.DeclareReplyQueueAsync();
        var id = HiveTestBus.NewId();
        await _bus.PublishTaskAsync(new
        {
            taskId = id, script = "sample", args = new { steps = 8, delay = 0.25 },
            acceptUrl = backend.Url("accepted"), responseUrl = backend.Url("done"), progressLength = 5,
        }, new BasicProperties { ReplyTo = replyQueue });

        var running = await _bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Progress is > 0 and < 100 && s.Lines.Count > 0, TimeSpan.FromSeconds(20));
        Assert.Equal("sample", running.Script);
        Assert.Equal(_node.Name, running.Node);
        Assert.NotNull(running.Pid);

        var final = await _bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(TaskState.Succeeded, final.State);
        Assert.Equal(100, final.Progress);
        Assert.True(final.Lines.Count <= 5);

        var accepted = await backend.WaitForAsync(r => r.Path == "/accepted", TimeSpan.FromSeconds(10));
        Assert.Equal(id, accepted.Json.GetProperty("taskId").GetString());
        var done = await backend.WaitForAsync(r => r.Path == "/done", TimeSpan.FromSeconds(10));
        Assert.Equal("succeeded", done.Json.GetProperty("state").GetString());
        Assert.Equal($"{id}:1:finished", done.Headers["Idempotency-Key"]);

        var published = await _bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Succeeded, published.State);
        Assert.Equal(0, published.ExitCode);
        Assert.NotNull(published.Result);

        var reply = await _bus.GetReplyAsync(replyQueue, TimeSpan.FromSeconds(10));
        Assert.NotNull(reply);
        Assert.Equal(id, reply!.TaskId);
    }

    [Fact]
    public async Task The_cli_submit_with_watch_follows_progress_and_exits_zero_when_the_task_succeeds()
    {
        var id = HiveTestBus.NewId("cli");
        var (exit, output) = await HiveCliRunner.RunAsync(_brokers, "submit", "sample", "--args", "{\"steps\":4,\"delay\":0.2}", "--id", id, "--watch");
        Assert.True(exit == 0, output);
        Assert.StartsWith(id, output.Trim());
        Assert.Contains("succeeded", output);
        Assert.Contains("%", output);

        var (statusExit, status) = await HiveCliRunner.RunAsync(_brokers, "status", id);
        Assert.Equal(0, statusExit);
        Assert.Equal(TaskState.Succeeded, TaskStatusJson.FromJson(status.Trim())!.State);

        var (logsExit, logs) = await HiveCliRunner.RunAsync(_brokers, "logs", id);
        Assert.Equal(0, logsExit);
        Assert.Contains("step 4/4", logs);

        var (watchExit, watched) = await HiveCliRunner.RunAsync(_brokers, "watch", id);
        Assert.True(watchExit == 0, watched);
        Assert.Contains("succeeded", watched);
    }

    [Fact]
    public async Task The_cli_submit_with_watch_exits_non_zero_when_the_task_fails()
    {
        var (exit, output) = await HiveCliRunner.RunAsync(_brokers, "submit", "fail", "--max-attempts", "1", "--watch");
        Assert.NotEqual(0, exit);
        Assert.Contains("failed", output);
    }
}
