using System.Runtime.InteropServices;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Cluster;

/// <summary>
/// Nodes dying with SIGKILL: one of three (the oldest, which hosts the reaper singleton and the shard coordinator), or all
/// at once. Every task still ends exactly once; nothing finished runs again.
/// </summary>
public sealed class ClusterFailureSpecs : IClassFixture<BrokersFixture>
{
    private readonly BrokersFixture _brokers;

    public ClusterFailureSpecs(BrokersFixture brokers) => _brokers = brokers;

    [Fact]
    public async Task A_node_killed_mid_task_loses_nothing_every_task_ends_once_on_the_survivors_and_the_dead_node_leaves_hive_nodes()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var cluster = await TestCluster.StartAsync(_brokers, "kill1");
        var victim = cluster.Seed;
        var survivors = cluster.Nodes.Skip(1).Select(n => n.Name).ToArray();

        var ids = Enumerable.Range(0, 12).Select(i => HiveTestBus.NewId($"k{i}")).ToArray();
        foreach (var id in ids) await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 4 }, maxAttempts = 3 });

        // Kill the victim while it runs tasks.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string[] onVictim;
        while (true)
        {
            var docs = await Task.WhenAll(ids.Select(bus.StatusAsync));
            onVictim = docs.Where(d => d is { State: TaskState.Running } && d.Node == victim.Name).Select(d => d!.TaskId).ToArray();
            if (onVictim.Length > 0) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{victim.Name} ran no task within 30 s\n{victim.Log}");
            await Task.Delay(100);
        }
        await victim.KillAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"killed {victim.Name} while it ran {string.Join(", ", onVictim)}");

        foreach (var id in ids)
        {
            var final = await WithSurvivorLogsAsync(cluster, () => bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(90)));
            Assert.True(final.State == TaskState.Succeeded, $"{id} ended {final.State.ToWire()}: {final.Reason}");
            Assert.Contains(final.Node, survivors.Concat([victim.Name]));
        }
        await Task.Delay(TimeSpan.FromSeconds(3)); // a duplicate result, if any, would arrive now

        foreach (var id in ids)
        {
            var results = bus.ResultsFor(id);
            Assert.True(results.Count == 1, $"{id}: {results.Count} results: {string.Join(" | ", results.Select(r => $"{r.State.ToWire()} attempt {r.Attempt} on {r.Node}"))}");
            Assert.Equal(TaskState.Succeeded, results[0].State);
        }
        foreach (var id in onVictim)
        {
            var result = bus.ResultsFor(id).Single();
            Assert.Contains(result.Node, survivors);
            Assert.Equal(2, result.Attempt);
        }

        // Its heartbeat hash expires (3 missed heartbeats), so `hive nodes` no longer lists it; the survivors are still there.
        var goneBy = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await TestCluster.ReportingNodesAsync(bus.Redis, [victim.Name])).Count > 0 && DateTime.UtcNow < goneBy) await Task.Delay(200);
        var (exit, listing) = await HiveCliRunner.RunAsync(_brokers, "nodes");
        Assert.True(exit == 0, listing);
        Assert.DoesNotContain(victim.Name, listing);
        Assert.All(survivors, name => Assert.Contains(name, listing));
    }

    [Fact]
    public async Task When_every_node_is_killed_at_once_and_started_again_unfinished_tasks_run_again_and_finished_ones_do_not()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var cluster = await TestCluster.StartAsync(_brokers, "killall");

        var quick = Enumerable.Range(0, 4).Select(i => HiveTestBus.NewId($"q{i}")).ToArray();
        foreach (var id in quick) await bus.PublishTaskAsync(new { taskId = id, script = "trivial", maxAttempts = 3 });
        foreach (var id in quick) Assert.Equal(TaskState.Succeeded, (await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30))).State);
        foreach (var id in quick) await bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));

        var slow = Enumerable.Range(0, 4).Select(i => HiveTestBus.NewId($"s{i}")).ToArray();
        foreach (var id in slow) await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 5 }, maxAttempts = 3 });
        foreach (var id in slow) await bus.WaitForStatusAsync(id, s => s.State == TaskState.Running, TimeSpan.FromSeconds(30));

        await Task.WhenAll(cluster.Nodes.Select(n => n.KillAsync()));
        await cluster.Seed.StartAsync();
        await Task.WhenAll(cluster.Nodes.Skip(1).Select(n => n.StartAsync()));
        await cluster.WaitForMembersUpAsync(TimeSpan.FromSeconds(45));

        foreach (var id in slow)
        {
            var final = await bus.WaitForStatusAsync(id, s => s.State.IsFinal() && s.Attempt >= 2, TimeSpan.FromSeconds(90));
            Assert.True(final.State == TaskState.Succeeded, $"{id} ended {final.State.ToWire()}: {final.Reason}");
        }
        await Task.Delay(TimeSpan.FromSeconds(3));

        foreach (var id in quick)
        {
            var results = bus.ResultsFor(id);
            Assert.True(results.Count == 1, $"finished task {id} reported {results.Count} times");
            Assert.Equal(1, results[0].Attempt);
        }
        foreach (var id in slow)
        {
            var results = bus.ResultsFor(id);
            Assert.True(results.Count == 1, $"{id}: {results.Count} results: {string.Join(" | ", results.Select(r => $"{r.State.ToWire()} attempt {r.Attempt}"))}");
            Assert.Equal(TaskState.Succeeded, results[0].State);
            Assert.Equal(2, results[0].Attempt);
        }
    }

    [Fact]
    public async Task A_node_frozen_until_the_cluster_downed_it_stops_its_script_and_exits_with_code_3_when_it_wakes_while_its_task_runs_on_a_survivor()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var cluster = await TestCluster.StartAsync(_brokers, "frozen", extraHocon: "hive.tasks.stop-grace = 2s");
        var id = HiveTestBus.NewId("frozen");
        await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 40 }, maxAttempts = 3 });
        var (pid, grandchild) = await SharedNodeFixture.SleepingTreeAsync(bus, id);
        var runningOn = (await bus.StatusAsync(id))!.Node;
        var victim = cluster.Nodes.Single(n => n.Name == runningOn);
        var survivors = cluster.Nodes.Where(n => n != victim).Select(n => n.Name).ToArray();
        var victimPid = victim.Pid!.Value;

        Assert.Equal(0, kill(victimPid, SIGSTOP));
        try
        {
            // Only once the survivors have downed the frozen node does the reaper release its claim: attempt 2 runs elsewhere.
            var rerun = await bus.WaitForStatusAsync(id, s => s.Attempt == 2 && s.State == TaskState.Running, TimeSpan.FromSeconds(40));
            Assert.Contains(rerun.Node, survivors);
            Assert.True(ProcessProbe.IsAlive(pid), "the frozen node's script ended on its own; the check below proves nothing");
        }
        finally
        {
            kill(victimPid, SIGCONT);
        }

        // Awake, it learns it was downed: no drain period, its script is stopped within the stop grace, and it exits 3.
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(20), pid, grandchild);
        var exitDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (victim.Pid is not null && DateTime.UtcNow < exitDeadline) await Task.Delay(100);
        Assert.True(victim.Pid is null, $"the downed node is still running 30 s after it woke\n{victim.Log}");
        Assert.Equal(3, await victim.TerminateAsync(TimeSpan.FromSeconds(1)));
        Assert.Contains("downed by the cluster", victim.Log);

        // The survivor's copy is the only one: stop it, and exactly one (stopped) result is published.
        await bus.ControlAsync(id, "stop");
        var final = await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(TaskState.Stopped, final.State);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var results = bus.ResultsFor(id);
        Assert.True(results.Count == 1, $"{results.Count} results: {string.Join(" | ", results.Select(r => $"{r.State.ToWire()} attempt {r.Attempt} on {r.Node}"))}");
        Assert.Equal(2, results[0].Attempt);
    }

    private const int SIGCONT = 18;
    private const int SIGSTOP = 19;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>A task that never ends is told with what the survivors logged (once seen in CI: a requeued task not run).</summary>
    private static async Task<T> WithSurvivorLogsAsync<T>(TestCluster cluster, Func<Task<T>> wait)
    {
        try
        {
            return await wait();
        }
        catch (TimeoutException e)
        {
            var logs = cluster.Nodes.Skip(1).Select(n => $"--- {n.Name}, last 60 lines:\n{string.Join('\n', n.Log.Split('\n').TakeLast(60))}");
            throw new TimeoutException($"{e.Message}\n{string.Join("\n", logs)}", e);
        }
    }
}
