using System.Globalization;
using System.Text.RegularExpressions;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>
/// What an idle node holds: no ASP.NET Core unless its HTTP API is on, and unused memory handed back once it has been idle
/// for hive.node.idle-trim-after (then every hive.node.idle-trim-every while it stays idle), never while a task runs.
/// </summary>
public sealed class IdleMemorySpecs : IClassFixture<BrokersFixture>
{
    private const string TrimLine = "unused memory handed back to the system";
    private static readonly Regex Gen2Collections = new(@"^dotnet_collection_count_total\{generation=""2""\} (\d+)", RegexOptions.Multiline);
    private readonly BrokersFixture _brokers;

    public IdleMemorySpecs(BrokersFixture brokers) => _brokers = brokers;

    private static string[] Lines(HiveNodeProcess node) => node.Log.Split('\n');

    private static int TrimsAfter(HiveNodeProcess node, int line) => Lines(node).Skip(line + 1).Count(l => l.Contains(TrimLine, StringComparison.Ordinal));

    private static int LineOf(HiveNodeProcess node, string taskId, string what) =>
        Array.FindIndex(Lines(node), l => l.Contains(taskId, StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal));

    [Fact]
    public async Task A_node_hands_memory_back_once_idle_for_idle_trim_after_and_never_while_a_task_runs()
    {
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var node = await HiveNodeProcess.StartAsync(_brokers, guides: 1,
            extraHocon: "hive.node.idle-trim-after = 2s\nhive.node.idle-trim-every = 0s");

        // A task at once, longer than idle-trim-after: the trim due 2 s after start is called off when the task is dispatched.
        var id = HiveTestBus.NewId("busy");
        await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 4 } });
        Assert.Equal(TaskState.Succeeded, (await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30))).State);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (LineOf(node, id, " ended ") < 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        var (started, ended) = (LineOf(node, id, "started as pid"), LineOf(node, id, " ended "));
        Assert.True(started >= 0 && ended > started, node.Log);
        Assert.DoesNotContain(Lines(node)[started..ended], l => l.Contains(TrimLine, StringComparison.Ordinal));

        // Idle again: one trim 2 s after the task, and with idle-trim-every = 0s no other while the node stays idle.
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (TrimsAfter(node, ended) == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(1, TrimsAfter(node, ended));
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(1, TrimsAfter(node, ended));
        Assert.Matches(@"No task for 00:00:02: unused memory handed back to the system, resident \d+ -> \d+ MB", node.Log);
    }

    [Fact]
    public async Task An_idle_node_collects_its_heap_again_every_idle_trim_every()
    {
        // Repeated trims log at Debug; the garbage collector's own count (prometheus-net's process metrics) shows them.
        var port = FreePort.Next();
        await using var node = await HiveNodeProcess.StartAsync(_brokers, guides: 1, httpPort: port,
            extraHocon: "hive.node.idle-trim-after = 1s\nhive.node.idle-trim-every = 1s");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        async Task<int> Gen2Async() =>
            int.Parse(Gen2Collections.Match(await http.GetStringAsync("metrics")).Groups[1].Value, CultureInfo.InvariantCulture);

        await Task.Delay(TimeSpan.FromSeconds(2));
        var before = await Gen2Async();
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.InRange(await Gen2Async() - before, 3, 7); // one full collection a second, not one per metrics scrape
    }

    [Fact]
    public async Task A_node_maps_asp_net_core_only_when_its_http_api_is_on()
    {
        // File names only: Microsoft.Extensions.* live in the Microsoft.AspNetCore.App folder and are always used.
        var aspNetCore = new Regex(@"/Microsoft\.AspNetCore\.[^/\s]*\.dll$", RegexOptions.Multiline);
        await using (var off = await HiveNodeProcess.StartAsync(_brokers, guides: 1))
        {
            var maps = await File.ReadAllTextAsync($"/proc/{off.Pid}/maps");
            Assert.Contains("System.Private.CoreLib.dll", maps); // the check does see the managed assemblies
            Assert.False(aspNetCore.IsMatch(maps), string.Join('\n', aspNetCore.Matches(maps).Select(m => m.Value).Distinct()));
        }

        await using var on = await HiveNodeProcess.StartAsync(_brokers, guides: 1, httpPort: FreePort.Next());
        Assert.Matches(aspNetCore, await File.ReadAllTextAsync($"/proc/{on.Pid}/maps"));
    }
}
