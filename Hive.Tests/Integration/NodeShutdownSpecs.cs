using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>SIGTERM drains a node: no new tasks, running ones finish or are handed back, no child left behind.</summary>
public sealed class NodeShutdownSpecs : IClassFixture<BrokersFixture>
{
    private readonly BrokersFixture _brokers;

    public NodeShutdownSpecs(BrokersFixture brokers) => _brokers = brokers;

    [Fact]
    public async Task Sigterm_lets_a_short_task_finish_and_hands_a_long_one_back_without_spending_an_attempt()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        var name = $"drain-{Guid.NewGuid().ToString("N")[..6]}";
        const string hocon = "hive.node.drain-timeout = 3s\nhive.tasks.stop-grace = 1s";
        var node = await HiveNodeProcess.StartAsync(_brokers, guides: 2, extraHocon: hocon, name: name);
        var shortTask = HiveTestBus.NewId("short");
        var longTask = HiveTestBus.NewId("long");
        await bus.PublishTaskAsync(new { taskId = shortTask, script = "sleep", args = new { seconds = 1.5 } });
        await bus.PublishTaskAsync(new { taskId = longTask, script = "sleep", args = new { seconds = 60 }, maxAttempts = 1 });
        var (shortPid, _) = await SharedNodeFixture.SleepingTreeAsync(bus, shortTask);
        var (longPid, longGrandchild) = await SharedNodeFixture.SleepingTreeAsync(bus, longTask);

        var exit = await node.TerminateAsync(TimeSpan.FromSeconds(60));

        Assert.True(exit == 0, $"the node exited {exit}:\n{node.Log}");
        Assert.False(ProcessProbe.IsAlive(longPid), "the long script outlived its node");
        Assert.False(ProcessProbe.IsAlive(longGrandchild), "the long script's grandchild outlived its node");
        Assert.False(ProcessProbe.IsAlive(shortPid));
        var finished = await bus.WaitForFinalAsync(shortTask, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Succeeded, finished.State);
        var handedBack = await bus.StatusAsync(longTask);
        Assert.Equal(TaskState.Queued, handedBack!.State);

        // The next node runs the handed-back task as attempt 1 of 1: draining spent no attempt.
        await using var next = await HiveNodeProcess.StartAsync(_brokers, guides: 2, name: name);
        var running = await bus.WaitForStatusAsync(longTask, s => s.State == TaskState.Running, TimeSpan.FromSeconds(30));
        Assert.Equal(1, running.Attempt);
        await bus.ControlAsync(longTask, "stop");
        var stopped = await bus.WaitForFinalAsync(longTask, TimeSpan.FromSeconds(20));
        Assert.Equal(TaskState.Stopped, stopped.State);
        Assert.Single(bus.ResultsFor(shortTask));
    }

    [Fact]
    public async Task Hive_drain_node_makes_the_named_node_finish_its_task_take_no_new_one_and_exit_0()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        var name = $"drained-{Guid.NewGuid().ToString("N")[..6]}";
        var node = await HiveNodeProcess.StartAsync(_brokers, guides: 2, extraHocon: "hive.node.drain-timeout = 20s", name: name);
        var running = HiveTestBus.NewId("drain-running");
        await bus.PublishTaskAsync(new { taskId = running, script = "sleep", args = new { seconds = 3 } });
        await bus.WaitForStatusAsync(running, s => s.State == TaskState.Running, TimeSpan.FromSeconds(30));

        var (typoExit, typo) = await HiveCliRunner.RunAsync(_brokers, "drain", name + "-typo");
        Assert.True(typoExit == 2, typo);
        Assert.Contains("no node named", typo);
        var (cliExit, output) = await HiveCliRunner.RunAsync(_brokers, "drain", name);
        Assert.True(cliExit == 0, output);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!node.Log.Contains("Draining:", StringComparison.Ordinal) && DateTime.UtcNow < deadline) await Task.Delay(100);
        var later = HiveTestBus.NewId("drain-later");
        await bus.PublishTaskAsync(new { taskId = later, script = "sleep", args = new { seconds = 1 } });

        var exit = await node.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"the node exited {exit}:\n{node.Log}");
        Assert.Contains("Drain requested by cli@", node.Log);
        Assert.Equal(TaskState.Succeeded, (await bus.WaitForFinalAsync(running, TimeSpan.FromSeconds(10))).State);
        Assert.Null(await bus.StatusAsync(later)); // still on the queue: the draining node did not take it
        Assert.Equal(1u, await bus.QueueDepthAsync());

        // Another node picks it up.
        await using var next = await HiveNodeProcess.StartAsync(_brokers, guides: 2);
        Assert.Equal(TaskState.Succeeded, (await bus.WaitForFinalAsync(later, TimeSpan.FromSeconds(30))).State);
    }
}
