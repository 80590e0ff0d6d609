using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>A node hands its unused memory back once it has been idle for hive.node.idle-trim-after, never while a task runs.</summary>
public sealed class IdleMemorySpecs : IClassFixture<BrokersFixture>
{
    private const string TrimLine = "unused memory handed back to the system";
    private readonly BrokersFixture _brokers;

    public IdleMemorySpecs(BrokersFixture brokers) => _brokers = brokers;

    private static int Trims(HiveNodeProcess node) => node.Log.Split('\n').Count(line => line.Contains(TrimLine, StringComparison.Ordinal));

    private static async Task WaitForTrimsAsync(HiveNodeProcess node, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Trims(node) < count && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(Trims(node) >= count, $"expected {count} memory trim(s) in the node's log, saw {Trims(node)}:\n{node.Log}");
    }

    [Fact]
    public async Task An_idle_node_hands_memory_back_once_per_idle_period_and_never_while_a_task_runs()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var node = await HiveNodeProcess.StartAsync(_brokers, guides: 1, extraHocon: "hive.node.idle-trim-after = 1s");

        // Idle from the start: one trim a second after the monitor started, then none while it stays idle.
        await WaitForTrimsAsync(node, 1, TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal(1, Trims(node));

        var id = HiveTestBus.NewId("busy");
        await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 3 } });
        await bus.WaitForStatusAsync(id, s => s.State == TaskState.Running, TimeSpan.FromSeconds(30));
        var done = await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Succeeded, done.State);
        Assert.Equal(1, Trims(node)); // the 3 s run is longer than idle-trim-after: nothing trimmed meanwhile

        // Idle again after its task: one more trim, then quiet again.
        await WaitForTrimsAsync(node, 2, TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal(2, Trims(node));
        Assert.Matches(@"resident \d+ -> \d+ MB", node.Log);
    }
}
