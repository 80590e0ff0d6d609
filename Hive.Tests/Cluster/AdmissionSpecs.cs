using System.Diagnostics;
using System.Globalization;
using Hive.Actors.Admission;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Cluster;

/// <summary>Resource-aware admission against the real machine: a node above its memory limit takes no new task until it is below again.</summary>
public sealed class AdmissionSpecs : IClassFixture<BrokersFixture>
{
    private const string Queue = "hive.admission-tasks";
    private readonly BrokersFixture _brokers;

    public AdmissionSpecs(BrokersFixture brokers) => _brokers = brokers;

    [Fact]
    public async Task A_node_above_its_memory_limit_takes_no_new_task_until_memory_drops_below_it_and_hive_nodes_says_why()
    {
        // Limit well above today's usage (other work on the machine may grow meanwhile); a hog well above the limit.
        var used = MemoryPercent();
        var limit = Math.Min(95, Math.Ceiling(used) + 15);
        var totalBytes = MemTotalBytes();
        var hogBytes = (long)((limit + 10 - used) / 100 * totalBytes);
        Assert.SkipWhen(limit + 10 >= 99, $"memory is already {used:0}% used; no room to push it over a limit and back");
        TestContext.Current.TestOutputHelper?.WriteLine($"memory {used:0.0}% used of {totalBytes >> 20} MiB; limit {limit}%, hog {hogBytes >> 20} MiB");

        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var node = await HiveNodeProcess.StartAsync(_brokers, guides: 1, extraHocon: $"""
            hive.node.admission.max-memory-percent = {limit.ToString(CultureInfo.InvariantCulture)}
            hive.node.admission.interval = 250ms
            hive.node.heartbeat-interval = 1s
            hive.rabbitmq.task-queue = "{Queue}"
            """);

        using var hog = StartMemoryHog(hogBytes);
        try
        {
            await WaitForAsync(() => MemoryPercent() > limit + 2, TimeSpan.FromSeconds(60), "the hog pushes memory over the limit");
            var closed = await WaitForNodeAdmissionAsync(node.Name, a => a.StartsWith("closed: memory", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
            TestContext.Current.TestOutputHelper?.WriteLine($"hive nodes: admission {closed}");

            var id = HiveTestBus.NewId("gated");
            await bus.PublishRawAsync(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { taskId = id, script = "trivial" }), queue: Queue);
            var held = Stopwatch.StartNew();
            while (held.Elapsed < TimeSpan.FromSeconds(5))
            {
                var status = await bus.StatusAsync(id);
                Assert.True(status is null || status.State == TaskState.Queued, $"task ran while memory was over the limit: {status?.State.ToWire()}");
                Assert.True(MemoryPercent() > limit, "memory dropped below the limit on its own; the check above proves nothing");
                await Task.Delay(250);
            }
            Assert.Contains($"Admission closed (memory", node.Log);

            hog.Kill();
            await hog.WaitForExitAsync();
            var released = Stopwatch.StartNew();
            var final = await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30));
            Assert.Equal(TaskState.Succeeded, final.State);
            TestContext.Current.TestOutputHelper?.WriteLine($"task ran {released.ElapsedMilliseconds} ms after the hog died");
            await WaitForNodeAdmissionAsync(node.Name, a => a == "open", TimeSpan.FromSeconds(10));
            Assert.Contains("Admission open again", node.Log);
        }
        finally
        {
            if (!hog.HasExited) hog.Kill();
        }

        async Task<string> WaitForNodeAdmissionAsync(string name, Func<string, bool> match, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            var last = "";
            while (DateTime.UtcNow < deadline)
            {
                var (exit, listing) = await HiveCliRunner.RunAsync(_brokers, "nodes");
                Assert.True(exit == 0, listing);
                var line = listing.Split('\n').FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal)) ?? "";
                var at = line.IndexOf("admission ", StringComparison.Ordinal);
                last = at < 0 ? line : line[(at + "admission ".Length)..];
                var end = last.IndexOf(" (cpu", StringComparison.Ordinal);
                if (end >= 0) last = last[..end];
                if (match(last)) return last;
                await Task.Delay(250);
            }
            throw new TimeoutException($"hive nodes did not show the expected admission for {name} within {timeout}; last: '{last}'");
        }
    }

    private static Process StartMemoryHog(long bytes)
    {
        // bytes(n) of a non-zero fill touches every page, so MemAvailable really drops.
        var psi = new ProcessStartInfo("python3", ["-c", $"import time; b = b'\\x01' * {bytes}; print('ready', flush=True); time.sleep(600)"])
        {
            RedirectStandardOutput = true,
        };
        return Process.Start(psi)!;
    }

    private static double MemoryPercent() => HostResources.ParseMemoryPercent(File.ReadAllText(HostResources.MemInfoPath))!.Value;

    private static long MemTotalBytes()
    {
        var line = File.ReadLines(HostResources.MemInfoPath).First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {timeout}: {what}");
            await Task.Delay(100);
        }
    }
}
