using System.Diagnostics;

namespace Hive.Tests.Faults;

/// <summary>
/// A real network partition between nodes that all run on loopback: the processes of one side live in their own cgroup
/// (v2), and iptables drops, in OUTPUT on lo, (a) every packet a socket of that cgroup sends to the other side's cluster
/// ports and (b) every packet to or from the isolated side's own cluster port. Redis and RabbitMQ stay reachable from
/// both sides, as in a partition between server racks that share the brokers. Needs root, iptables with the cgroup
/// match, and the cgroup2 hierarchy (<see cref="Root"/>).
/// </summary>
public sealed class NetworkPartition : IAsyncDisposable
{
    public const string Root = "/sys/fs/cgroup/unified";
    private readonly string _comment = $"hive-fault-{Guid.NewGuid().ToString("N")[..8]}";
    private readonly List<string[]> _rules = new();

    private NetworkPartition(string name) => CgroupName = name;

    public string CgroupName { get; }

    private string CgroupDir => Path.Combine(Root, CgroupName);

    /// <summary>Null (with the reason) when this machine cannot partition: not root, no cgroup2, no iptables.</summary>
    public static async Task<(NetworkPartition? Partition, string? Why)> TryCreateAsync()
    {
        if (Environment.UserName != "root") return (null, "not root");
        if (!File.Exists(Path.Combine(Root, "cgroup.procs"))) return (null, $"no cgroup2 hierarchy at {Root}");
        if (!File.Exists("/usr/sbin/iptables"))
        {
            var (code, output) = await RunAsync("apt-get", "install", "-y", "-q", "iptables");
            if (code != 0 || !File.Exists("/usr/sbin/iptables")) return (null, $"iptables missing and apt-get install failed: {output}");
        }
        var partition = new NetworkPartition($"hive-partition-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(partition.CgroupDir);
        return (partition, null);
    }

    /// <summary>
    /// Runs <paramref name="start"/> (which must fork its process synchronously, before its first await, as
    /// <c>HiveNodeProcess.StartAsync</c> does) with this test process inside the cgroup, so the child is born there and
    /// every socket it ever opens is matched; then moves the test process back. Children other threads fork in that
    /// instant land in the cgroup too; the rules only touch this partition's ports, so that is harmless.
    /// </summary>
    public T Isolated<T>(Func<T> start)
    {
        var home = OwnCgroup();
        File.WriteAllText(Path.Combine(CgroupDir, "cgroup.procs"), Environment.ProcessId.ToString());
        try
        {
            return start();
        }
        finally
        {
            File.WriteAllText(Path.Combine(Root + home, "cgroup.procs"), Environment.ProcessId.ToString());
        }
    }

    /// <summary>Cuts the isolated side (listening on <paramref name="isolatedPort"/>) off the others' cluster ports.</summary>
    public async Task CutAsync(int isolatedPort, IReadOnlyCollection<int> otherPorts)
    {
        var others = string.Join(',', otherPorts);
        await AddAsync("-o", "lo", "-p", "tcp", "-m", "cgroup", "--path", CgroupName, "-m", "multiport", "--dports", others);
        await AddAsync("-o", "lo", "-p", "tcp", "--dport", isolatedPort.ToString());
        await AddAsync("-o", "lo", "-p", "tcp", "--sport", isolatedPort.ToString());
    }

    /// <summary>Removes every rule this partition added.</summary>
    public async Task HealAsync()
    {
        foreach (var rule in _rules)
            await RunAsync("iptables", ["-D", "OUTPUT", .. rule]);
        _rules.Clear();
    }

    private async Task AddAsync(params string[] match)
    {
        string[] rule = [.. match, "-m", "comment", "--comment", _comment, "-j", "DROP"];
        var (code, output) = await RunAsync("iptables", ["-I", "OUTPUT", .. rule]);
        if (code != 0) throw new InvalidOperationException($"iptables -I OUTPUT {string.Join(' ', rule)} failed ({code}): {output}");
        _rules.Add(rule);
    }

    private static string OwnCgroup() =>
        File.ReadAllLines("/proc/self/cgroup").Single(l => l.StartsWith("0::", StringComparison.Ordinal))["0::".Length..];

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, (await output) + (await error));
    }

    public async ValueTask DisposeAsync()
    {
        await HealAsync();
        // The cgroup can only go once its processes have ended; a node still in it keeps it (harmless, empty later).
        try { Directory.Delete(CgroupDir); } catch (IOException) { }
    }
}
