using System.Diagnostics;
using Hive.Actors.Contracts;
using Hive.Tests.Cluster;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Faults;

/// <summary>
/// Faults between nodes. A node killed with SIGKILL and a node frozen until it is downed are covered by
/// <see cref="ClusterFailureSpecs"/> and <see cref="NodeCrashSpecs"/>; this class adds a real network partition
/// (<see cref="NetworkPartition"/>): one node of three cut off from the other two's cluster ports while it runs tasks,
/// both sides still reaching Redis and RabbitMQ.
/// </summary>
public sealed class NodeFaultSpecs : IClassFixture<BrokersFixture>
{
    private readonly BrokersFixture _brokers;

    public NodeFaultSpecs(BrokersFixture brokers) => _brokers = brokers;

    // Soak only (bench/soak): three nodes, a partition and a rejoin take about two minutes; deploy/test.sh leaves out Category=Soak.
    [Fact]
    [Trait("Category", "Soak")]
    public async Task A_node_cut_off_from_the_other_two_is_downed_stops_its_scripts_its_tasks_run_once_on_the_majority_and_it_rejoins_after_the_heal()
    {
        var (partition, why) = await NetworkPartition.TryCreateAsync();
        Assert.True(partition is not null, $"cannot partition on this machine: {why}");
        await using var _ = partition;
        var clock = Stopwatch.StartNew();
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        var ledger = await ResultLedger.DeclareAsync(_brokers.Rabbit.Uri);

        var suffix = Guid.NewGuid().ToString("N")[..4];
        var ports = Enumerable.Range(0, 3).Select(_ => FreePort.Next()).ToArray();
        var seeds = $"localhost:{ports[0]}";
        var hocon = TestCluster.FastFailureHocon + "\nhive.tasks.stop-grace = 2s\n";
        var nodes = new List<HiveNodeProcess>();
        var ids = Enumerable.Range(0, 6).Select(i => HiveTestBus.NewId($"part{i}")).ToArray();
        try
        {
            nodes.Add(await HiveNodeProcess.StartAsync(_brokers, 2, hocon, $"part-b-{suffix}", ports[0], seeds));
            nodes.Add(await HiveNodeProcess.StartAsync(_brokers, 2, hocon, $"part-c-{suffix}", ports[1], seeds));
            // The minority node is born inside the partition's cgroup, so every socket it opens can be cut.
            nodes.Add(await partition!.Isolated(() => HiveNodeProcess.StartAsync(_brokers, 2, hocon, $"part-a-{suffix}", ports[2], seeds)));
            var (majority, isolated) = (nodes.Take(2).ToArray(), nodes[2]);
            await WaitAllUpAsync(nodes, TimeSpan.FromSeconds(60));

            foreach (var id in ids)
                await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 20 }, maxAttempts = 3 });
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
            (string Id, int Pid, int Grandchild)[] onIsolated;
            while (true)
            {
                var docs = await Task.WhenAll(ids.Select(bus.StatusAsync));
                onIsolated = docs.Where(d => d is { State: TaskState.Running, Pid: not null } && d.Node == isolated.Name && d.Stage?.StartsWith("sleeping:") == true)
                    .Select(d => (d!.TaskId, d.Pid!.Value, int.Parse(d.Stage!["sleeping:".Length..]))).ToArray();
                if (onIsolated.Length > 0 && docs.Count(d => d?.State == TaskState.Running) >= 4) break;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"{isolated.Name} ran no task within 40 s\n{isolated.Log}");
                await Task.Delay(100);
            }

            await partition.CutAsync(ports[2], ports[..2]);
            var cut = Stopwatch.StartNew();
            FaultSettings.Log($"cut {isolated.Name} off at {Since.Seconds(clock)} while it ran {string.Join(", ", onIsolated.Select(t => t.Id))}; " +
                $"{await Outcome.InFlightAsync(bus.Redis, ids)} tasks in flight");

            // The isolated side is the minority: it downs itself, stops its scripts, and exits 3. Its tasks run again on
            // the majority as attempt 2, and never while its own copy still runs.
            var overlaps = new List<string>();
            var movedAt = new Dictionary<string, TimeSpan>();
            var gone = TimeSpan.Zero;
            while (movedAt.Count < onIsolated.Length || isolated.Pid is not null)
            {
                if (cut.Elapsed > TimeSpan.FromSeconds(90))
                    throw new TimeoutException($"within 90 s of the cut: {movedAt.Count} of {onIsolated.Length} tasks moved, isolated node {(isolated.Pid is null ? "exited" : "still up")}\n{isolated.Log}");
                foreach (var t in onIsolated.Where(t => !movedAt.ContainsKey(t.Id)))
                {
                    if (await bus.StatusAsync(t.Id) is not { Attempt: >= 2, State: TaskState.Running } doc) continue;
                    movedAt[t.Id] = cut.Elapsed;
                    if (ProcessProbe.IsAlive(t.Pid) || ProcessProbe.IsAlive(t.Grandchild))
                        overlaps.Add($"{t.Id} runs attempt {doc.Attempt} on {doc.Node} while pid {t.Pid} of attempt 1 still runs on {isolated.Name}");
                }
                if (gone == TimeSpan.Zero && onIsolated.All(t => !ProcessProbe.IsAlive(t.Pid) && !ProcessProbe.IsAlive(t.Grandchild))) gone = cut.Elapsed;
                await Task.Delay(50);
            }
            FaultSettings.Log($"isolated scripts gone {gone.TotalSeconds:0.0} s after the cut; tasks running again on the majority at " +
                string.Join(", ", movedAt.Values.Select(v => $"{v.TotalSeconds:0.0} s")));
            Assert.True(overlaps.Count == 0, string.Join('\n', overlaps));
            Assert.Equal(3, await isolated.TerminateAsync(TimeSpan.FromSeconds(1)));
            Assert.Contains("downed by the cluster", isolated.Log);
            Assert.All(majority, n => Assert.NotNull(n.Pid));

            // Heal and start it again (as systemd's Restart=on-failure would): it rejoins.
            await partition.HealAsync();
            var upBefore = nodes.ToDictionary(n => n, n => n == isolated ? UpCount(nodes, n) : 0);
            await isolated.StartAsync();
            await WaitAllUpAsync(nodes, TimeSpan.FromSeconds(60), upBefore);
            FaultSettings.Log($"healed; {isolated.Name} rejoined at {Since.Seconds(clock)}");

            var finals = await Outcome.WaitAllFinalAsync(bus.Redis, ids, TimeSpan.FromSeconds(90));
            Assert.All(ids, id => Assert.True(finals[id].State == TaskState.Succeeded, $"{id} ended {finals[id].State.ToWire()}: {finals[id].Reason}"));
            await Task.Delay(TimeSpan.FromSeconds(3));
            var results = await ledger.DrainAsync();
            Outcome.AssertEachEndedOnce(ids, results, finals);
            Assert.All(onIsolated, t =>
            {
                var r = results.Single(x => x.TaskId == t.Id);
                Assert.True(r.Attempt == 2 && r.Node != isolated.Name, $"{t.Id}: attempt {r.Attempt} on {r.Node}");
            });
            await Outcome.AssertNoScriptLeftAsync(ids, TimeSpan.FromSeconds(10));
            FaultSettings.Log($"{ids.Length} tasks, {results.Count} results, all final, none lost; done at {Since.Seconds(clock)}");
        }
        finally
        {
            await partition!.HealAsync();
            Outcome.KillScriptsOf(ids);
            await Task.WhenAll(nodes.Skip(1).Select(n => n.DisposeAsync().AsTask()));
            if (nodes.Count > 0) await nodes[0].DisposeAsync();
            var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "test-logs")).FullName;
            foreach (var node in nodes) await File.WriteAllTextAsync(Path.Combine(logs, $"NodeFaultSpecs-{node.Name}.log"), node.Log);
        }
    }

    /// <summary>Waits until the leader has moved each node to Up more often than <paramref name="before"/> counted (a rejoin is a new Up).</summary>
    private static async Task WaitAllUpAsync(IReadOnlyList<HiveNodeProcess> nodes, TimeSpan timeout, IReadOnlyDictionary<HiveNodeProcess, int>? before = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var missing = nodes.Where(n => UpCount(nodes, n) <= (before?.GetValueOrDefault(n) ?? 0)).ToArray();
            if (missing.Length == 0) return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"not Up within {timeout}: {string.Join(", ", missing.Select(n => n.Name))}\n--- {nodes[0].Name} ---\n{nodes[0].Log}");
            await Task.Delay(200);
        }
    }

    /// <summary>How many "moving node [its address] to [Up]" lines the logs hold (each leader change may log it once).</summary>
    private static int UpCount(IReadOnlyList<HiveNodeProcess> nodes, HiveNodeProcess node) =>
        nodes.Max(o => o.Log.Split('\n').Count(l => l.Contains($"akka.tcp://hive@localhost:{node.ClusterPort}] to [Up]", StringComparison.Ordinal)));
}
