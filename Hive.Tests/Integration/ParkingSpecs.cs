using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>A busy node does not sit on prefetched tasks: it hands them back so an idle node runs them.</summary>
public sealed class ParkingSpecs : IClassFixture<BrokersFixture>
{
    private readonly BrokersFixture _brokers;

    public ParkingSpecs(BrokersFixture brokers) => _brokers = brokers;

    [Fact]
    public async Task A_node_whose_guides_are_all_busy_hands_its_prefetched_task_back_and_an_idle_node_runs_it()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        var seedPort = FreePort.Next();
        const string hocon = "hive.node.park-after = 1s";
        await using var busy = await HiveNodeProcess.StartAsync(_brokers, guides: 1, extraHocon: hocon, name: "busy", clusterPort: seedPort,
            seeds: $"localhost:{seedPort}");
        var longTask = HiveTestBus.NewId("long");
        var waiting = HiveTestBus.NewId("waiting");
        await bus.PublishTaskAsync(new { taskId = longTask, script = "sleep", args = new { seconds = 60 } });
        await bus.WaitForStatusAsync(longTask, s => s.State == TaskState.Running, TimeSpan.FromSeconds(30));
        await bus.PublishTaskAsync(new { taskId = waiting, script = "sample", args = new { steps = 1, delay = 0.1 } });

        // Prefetched by the busy node at first, then handed back: it is ready in the queue again.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await bus.QueueDepthAsync() == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(1u, await bus.QueueDepthAsync());
        Assert.Null(await bus.StatusAsync(waiting));

        await using var idle = await HiveNodeProcess.StartAsync(_brokers, guides: 1, extraHocon: hocon, name: "idle", seeds: $"localhost:{seedPort}");
        var done = await bus.WaitForFinalAsync(waiting, TimeSpan.FromSeconds(45));
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal("idle", done.Node);

        // The busy node consumes again once its guide is free.
        await bus.ControlAsync(longTask, "stop");
        await bus.WaitForFinalAsync(longTask, TimeSpan.FromSeconds(20));
        var next = HiveTestBus.NewId("next");
        await bus.PublishTaskAsync(new { taskId = next, script = "sample", args = new { steps = 1, delay = 0.1 } });
        Assert.Equal(TaskState.Succeeded, (await bus.WaitForFinalAsync(next, TimeSpan.FromSeconds(30))).State);
    }
}
