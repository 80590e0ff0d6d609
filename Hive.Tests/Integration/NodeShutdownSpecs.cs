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
}
