using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using StackExchange.Redis;

namespace Hive.Tests.Cluster;

/// <summary>
/// Several real `hive node` processes on loopback ports forming one Akka.NET cluster through an explicit seed (the
/// first node), against one broker pair. Failure detection and the split brain resolver are tuned down so a dead node is
/// downed within seconds instead of the production 20 s.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    /// <summary>Fast failure handling for tests: a node silent for ~4 s is unreachable, downed 5 s later.</summary>
    public const string FastFailureHocon = """
        hive.cluster.stable-after = 5s
        hive.cluster.reaper-interval = 1s
        hive.node.heartbeat-interval = 1s
        hive.node.drain-timeout = 2s
        akka.cluster.failure-detector.heartbeat-interval = 1s
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 4s
        """;

    private readonly string _label;

    private TestCluster(string label, IReadOnlyList<HiveNodeProcess> nodes)
    {
        _label = label;
        Nodes = nodes;
    }

    public IReadOnlyList<HiveNodeProcess> Nodes { get; }

    public HiveNodeProcess Seed => Nodes[0];

    /// <summary>Starts the seed, then the others in parallel (each joins through the seed), each with <paramref name="guides"/> guides.</summary>
    public static async Task<TestCluster> StartAsync(BrokersFixture brokers, string label, int size = 3, int guides = 2, string extraHocon = "",
        string? tasksDir = null)
    {
        var suffix = Guid.NewGuid().ToString("N")[..4];
        var ports = Enumerable.Range(0, size).Select(_ => FreePort.Next()).ToArray();
        var seeds = $"localhost:{ports[0]}";
        var hocon = FastFailureHocon + "\n" + extraHocon;
        var started = new List<HiveNodeProcess>();
        try
        {
            started.Add(await HiveNodeProcess.StartAsync(brokers, guides, hocon, $"{label}-1-{suffix}", ports[0], seeds, tasksDir: tasksDir));
            var rest = Enumerable.Range(1, size - 1)
                .Select(i => HiveNodeProcess.StartAsync(brokers, guides, hocon, $"{label}-{i + 1}-{suffix}", ports[i], seeds, tasksDir: tasksDir))
                .ToArray();
            foreach (var node in rest) started.Add(await node);
        }
        catch
        {
            foreach (var node in started) await node.DisposeAsync();
            throw;
        }
        var cluster = new TestCluster(label, started);
        await cluster.WaitForMembersUpAsync(TimeSpan.FromSeconds(45));
        return cluster;
    }

    /// <summary>Waits until the seed's log shows every node as an Up member (the cluster leader logs each move to Up).</summary>
    public async Task WaitForMembersUpAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var missing = Nodes.Where(n => !IsUp(n)).Select(n => n.Name).ToArray();
            if (missing.Length == 0) return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"cluster {_label}: members not Up within {timeout}: {string.Join(", ", missing)}\n--- seed log ---\n{Seed.Log}");
            await Task.Delay(200);
        }
    }

    /// <summary>True when any node's log says the leader moved this node's address to Up.</summary>
    private bool IsUp(HiveNodeProcess node)
    {
        var address = $"akka.tcp://hive@localhost:{node.ClusterPort}";
        return Nodes.Any(n => n.Log.Split('\n').Any(line => line.Contains(address, StringComparison.Ordinal) && line.Contains("to [Up]", StringComparison.Ordinal)));
    }

    /// <summary>Node names that have a live hive:node hash.</summary>
    public static async Task<IReadOnlyList<string>> ReportingNodesAsync(IDatabase redis, IEnumerable<string> names)
    {
        var live = new List<string>();
        foreach (var name in names)
            if (await redis.KeyExistsAsync(RedisKeys.Node(name))) live.Add(name);
        return live;
    }

    public async ValueTask DisposeAsync()
    {
        // Non-seeds first: the seed's leaving last keeps the others from waiting on a departed leader.
        await Task.WhenAll(Nodes.Skip(1).Select(n => n.DisposeAsync().AsTask()));
        await Seed.DisposeAsync();
        var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "test-logs")).FullName;
        foreach (var node in Nodes)
            await File.WriteAllTextAsync(Path.Combine(logs, $"cluster-{node.Name}.log"), node.Log);
    }
}
