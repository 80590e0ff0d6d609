using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Hive.Tests.Processes;
using Xunit;

namespace Hive.Tests.Cluster;

/// <summary>A script's maxConcurrentPerCluster across two real nodes: its runs never overlap, whichever node takes them.</summary>
public sealed class ClusterLimitSpecs : IAsyncLifetime
{
    private readonly BrokersFixture _brokers = new();
    private readonly TempTasks _tasks = new();
    private TestCluster _cluster = null!;
    private HiveTestBus _bus = null!;

    public async ValueTask InitializeAsync()
    {
        _tasks.Write("solo.sh", "sleep 1");
        _tasks.Write("solo.json", """{ "maxConcurrentPerCluster": 1 }""");
        await _brokers.InitializeAsync();
        _bus = await HiveTestBus.ConnectAsync(_brokers);
        _cluster = await TestCluster.StartAsync(_brokers, "limit", size: 2, guides: 3, extraHocon: "hive.tasks.cluster-slot-retry = 200ms",
            tasksDir: _tasks.Tasks);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        if (_bus is not null) await _bus.DisposeAsync();
        await _brokers.DisposeAsync();
        _tasks.Dispose();
    }

    [Fact]
    public async Task Six_tasks_of_a_script_limited_to_one_run_per_cluster_run_one_after_another_on_two_nodes_with_six_guides()
    {
        var ids = Enumerable.Range(0, 6).Select(i => HiveTestBus.NewId($"solo{i}")).ToArray();
        foreach (var id in ids) await _bus.PublishTaskAsync(new { taskId = id, script = "solo" });

        var results = new List<TaskResult>();
        foreach (var id in ids) results.Add(await _bus.WaitForResultAsync(id, TimeSpan.FromSeconds(60)));
        Assert.All(results, r => Assert.True(r.State == TaskState.Succeeded, $"{r.TaskId} ended {r.State.ToWire()}: {r.Reason}"));

        var runs = results.OrderBy(r => r.StartedAt).ToArray();
        var timeline = string.Join("; ", runs.Select(r => $"{r.Node} {r.StartedAt:HH:mm:ss.fff}-{r.EndedAt:HH:mm:ss.fff}"));
        TestContext.Current.TestOutputHelper?.WriteLine(timeline);
        for (var i = 1; i < runs.Length; i++)
            Assert.True(runs[i].StartedAt >= runs[i - 1].EndedAt, $"two runs of solo overlapped: {timeline}");
        Assert.Equal(1, results.Select(r => r.Attempt).Max()); // waiting for a slot spends no attempt
    }
}
