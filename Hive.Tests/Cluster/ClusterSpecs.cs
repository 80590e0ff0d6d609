using System.Diagnostics;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Cluster;

/// <summary>A healthy three-node cluster: one view of the nodes, work spread over all of them, control reaching any node, duplicates refused.</summary>
public sealed class ClusterSpecs : IClassFixture<ClusterSpecs.ClusterFixture>
{
    private readonly ClusterFixture _fixture;

    public ClusterSpecs(ClusterFixture fixture) => _fixture = fixture;

    private HiveTestBus Bus => _fixture.Bus;

    /// <summary>One broker pair and one three-node cluster (2 guides each) for the class; tests leave nothing running.</summary>
    public sealed class ClusterFixture : IAsyncLifetime
    {
        public BrokersFixture Brokers { get; } = new();
        public TestCluster Cluster { get; private set; } = null!;
        public HiveTestBus Bus { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            await Brokers.InitializeAsync();
            Bus = await HiveTestBus.ConnectAsync(Brokers);
            Cluster = await TestCluster.StartAsync(Brokers, "healthy");
        }

        public async ValueTask DisposeAsync()
        {
            if (Cluster is not null) await Cluster.DisposeAsync();
            if (Bus is not null) await Bus.DisposeAsync();
            await Brokers.DisposeAsync();
        }
    }

    [Fact]
    public async Task Three_nodes_form_one_cluster_that_hive_nodes_lists_and_thirty_tasks_spread_over_all_three()
    {
        var names = _fixture.Cluster.Nodes.Select(n => n.Name).ToArray();
        var (exit, listing) = await HiveCliRunner.RunAsync(_fixture.Brokers, "nodes");
        Assert.True(exit == 0, listing);
        Assert.All(names, name => Assert.Contains($"{name}: 2 guides", listing));
        Assert.Contains("admission open", listing);
        Assert.Contains("  scripts: ", listing); // each node's catalogue, from the same tasks/ folder:
        Assert.DoesNotContain("differs between nodes", listing);

        var ids = Enumerable.Range(0, 30).Select(i => HiveTestBus.NewId($"spread{i}")).ToArray();
        foreach (var id in ids) await Bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 1 } });

        var finals = new List<TaskStatusDocument>();
        foreach (var id in ids) finals.Add(await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(90)));
        Assert.All(finals, f => Assert.True(f.State == TaskState.Succeeded, $"{f.TaskId} ended {f.State.ToWire()}: {f.Reason}"));

        var perNode = finals.GroupBy(f => f.Node ?? "?").ToDictionary(g => g.Key, g => g.Count());
        var spread = string.Join(", ", perNode.Select(kv => $"{kv.Key}={kv.Value}"));
        TestContext.Current.TestOutputHelper?.WriteLine($"30 tasks per node: {spread}");
        Assert.All(names, name => Assert.True(perNode.GetValueOrDefault(name) >= 1, $"{name} ran no task; per node: {spread}"));

        foreach (var id in ids)
        {
            var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
            Assert.Equal(finals.Single(f => f.TaskId == id).Node, result.Node);
        }
    }

    [Fact]
    public async Task A_stop_published_once_reaches_the_task_on_whichever_node_runs_it_and_kills_its_script_within_two_seconds()
    {
        var id = HiveTestBus.NewId("stop");
        await Bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 60 } });
        var (pid, grandchild) = await SharedNodeFixture.SleepingTreeAsync(Bus, id);
        var runningOn = (await Bus.StatusAsync(id))!.Node;
        Assert.Contains(runningOn, _fixture.Cluster.Nodes.Select(n => n.Name));

        var clock = Stopwatch.StartNew();
        await Bus.ControlAsync(id, "stop");
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(2), pid, grandchild);
        var gone = clock.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"stop for a task on {runningOn}: script tree gone {gone.TotalMilliseconds:0} ms after the publish");

        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Stopped, final.State);
        var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Stopped, result.State);

        // Every node got the stop (fanout); the two that do not run the task must not produce a second end.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Single(Bus.ResultsFor(id));
    }

    [Fact]
    public async Task A_stop_from_the_cli_reaches_a_task_running_on_another_node()
    {
        var id = HiveTestBus.NewId("clistop");
        await Bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 60 } });
        var (pid, grandchild) = await SharedNodeFixture.SleepingTreeAsync(Bus, id);

        var (exit, output) = await HiveCliRunner.RunAsync(_fixture.Brokers, "stop", id);
        Assert.True(exit == 0, output);
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(2), pid, grandchild);
        Assert.Equal(TaskState.Stopped, (await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10))).State);
    }

    [Fact]
    public async Task The_same_task_id_published_twice_runs_once_with_one_started_event_and_one_result()
    {
        var id = HiveTestBus.NewId("dup");
        var task = new { taskId = id, script = "sample", args = new { steps = 4, delay = 0.25 } };
        await Bus.PublishTaskAsync(task);
        await Bus.PublishTaskAsync(task);

        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Succeeded, final.State);
        // Settle: the second copy is refused by the task's entity wherever it lands; a second run would end by now.
        await Task.Delay(TimeSpan.FromSeconds(3));

        var results = Bus.ResultsFor(id);
        Assert.True(results.Count == 1, $"{results.Count} results: {string.Join(" | ", results.Select(r => $"{r.State.ToWire()} attempt {r.Attempt} on {r.Node}"))}");
        var entries = await Bus.Redis.StreamRangeAsync(RedisKeys.Events);
        var started = entries.Where(e => e["taskId"] == id && e["event"] == "started").ToArray();
        Assert.Single(started);
        Assert.Equal(0u, await Bus.QueueDepthAsync());
    }
}
