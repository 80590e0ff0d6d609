using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Processes;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>A real node weighs a script manifest's expectedMemoryMb against its memory admission limit (the default 90 %).</summary>
public sealed class ExpectedResourcesSpecs : IAsyncLifetime
{
    private readonly BrokersFixture _brokers = new();
    private readonly TempTasks _tasks = new();
    private HiveNodeProcess _node = null!;
    private HiveTestBus _bus = null!;

    public async ValueTask InitializeAsync()
    {
        _tasks.Write("huge.sh", "echo done");
        _tasks.Write("huge.json", """{ "expectedMemoryMb": 100000000 }"""); // 100 TB: fits on no machine
        File.Copy(Path.Combine(RepoPaths.Tasks, "sleep.sh"), Path.Combine(_tasks.Tasks, "sleep.sh"));
        await _brokers.InitializeAsync();
        _bus = await HiveTestBus.ConnectAsync(_brokers);
        _node = await HiveNodeProcess.StartAsync(_brokers, guides: 2, extraHocon: """
            hive.node.park-after = 60s
            # Weighed, but never closed by the machine's own memory use: the 100 TB expectation alone decides.
            hive.node.admission.max-memory-percent = 99.9
            """, tasksDir: _tasks.Tasks);
    }

    public async ValueTask DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
        if (_bus is not null) await _bus.DisposeAsync();
        await _brokers.DisposeAsync();
        _tasks.Dispose();
    }

    [Fact]
    public async Task A_task_expecting_more_memory_than_fits_waits_while_the_node_runs_something_and_starts_once_it_runs_nothing()
    {
        var busy = HiveTestBus.NewId("busy");
        await _bus.PublishTaskAsync(new { taskId = busy, script = "sleep", args = new { seconds = 60 } });
        await _bus.WaitForStatusAsync(busy, s => s.State == TaskState.Running, TimeSpan.FromSeconds(30));

        var huge = HiveTestBus.NewId("huge");
        await _bus.PublishTaskAsync(new { taskId = huge, script = "huge" });
        var waiting = $"Task {huge}: script huge expects 100000000 MB";
        for (var i = 0; i < 150 && !_node.Log.Contains(waiting); i++) await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Contains(waiting, _node.Log);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.Null(await _bus.StatusAsync(huge)); // a guide is free, but the task waits on the node: not started

        await _bus.ControlAsync(busy, "stop");
        var result = await _bus.WaitForResultAsync(huge, TimeSpan.FromSeconds(30)); // the node runs nothing now: it takes it
        Assert.Equal(TaskState.Succeeded, result.State);
        Assert.Equal(1, result.Attempt);
    }
}
