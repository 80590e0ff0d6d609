using System.Diagnostics;
using System.Globalization;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>
/// stop / pause / resume / message against one real node, checked where it matters: the script's process tree
/// in /proc, its output and CPU time, the status document, the published results and the hive:events stream.
/// </summary>
public sealed class ControlSpecs : IClassFixture<ControlSpecs.NodeFixture>
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    private readonly NodeFixture _fixture;

    public ControlSpecs(NodeFixture fixture) => _fixture = fixture;

    private HiveTestBus Bus => _fixture.Bus;

    /// <summary>One node with 4 guides for the whole class; every test uses its own task ids and leaves nothing running.</summary>
    public sealed class NodeFixture : SharedNodeFixture
    {
        public NodeFixture() : base(guides: 4, $"hive.tasks.stop-grace = {(int)StopGrace.TotalSeconds}s") { }
    }

    [Fact]
    public async Task Stop_kills_the_script_and_its_grandchild_within_the_grace_period_and_publishes_one_stopped_result()
    {
        var id = HiveTestBus.NewId("stop");
        await Bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 60 } });
        var (pid, grandchild) = await SleepingTreeAsync(id);
        Assert.True(ProcessProbe.IsAlive(pid) && ProcessProbe.IsAlive(grandchild), "sleep.sh and its sleep are running before the stop");

        var clock = Stopwatch.StartNew();
        await Bus.ControlAsync(id, "stop");
        await ProcessProbe.WaitGoneAsync(StopGrace, pid, grandchild);
        var goneAfter = clock.Elapsed;

        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Stopped, final.State);
        Assert.Null(final.Pid);
        var result = await Bus.WaitForResultAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Stopped, result.State);
        Assert.Equal(1, result.Attempt);
        await Task.Delay(1000);
        Assert.Single(Bus.ResultsFor(id));
        TestContext.Current.TestOutputHelper?.WriteLine($"script and grandchild gone {goneAfter.TotalMilliseconds:0} ms after the stop was sent");
    }

    [Fact]
    public async Task Pause_freezes_the_whole_tree_its_output_and_cpu_time_and_resume_lets_it_continue_to_success()
    {
        var ticker = HiveTestBus.NewId("tick");
        var sleeper = HiveTestBus.NewId("sleep");
        await Bus.PublishTaskAsync(new { taskId = ticker, script = "ticker", args = new { ticks = 100, interval = 0.05 } });
        await Bus.PublishTaskAsync(new { taskId = sleeper, script = "sleep", args = new { seconds = 60 } });
        try
        {
            var running = await Bus.WaitForStatusAsync(ticker, s => s.State == TaskState.Running && s.Pid is not null && s.TotalLines >= 3, TimeSpan.FromSeconds(20));
            var tickerPid = running.Pid!.Value;
            var (sleepPid, grandchild) = await SleepingTreeAsync(sleeper);

            await Bus.ControlAsync(ticker, "pause");
            await Bus.ControlAsync(sleeper, "pause");
            await Bus.WaitForStatusAsync(ticker, s => s.State == TaskState.Paused, TimeSpan.FromSeconds(10));
            await Bus.WaitForStatusAsync(sleeper, s => s.State == TaskState.Paused, TimeSpan.FromSeconds(10));
            await ProcessProbe.WaitStateAsync('T', TimeSpan.FromSeconds(5), tickerPid, sleepPid, grandchild);

            // Let the last snapshot before the pause land, then nothing may move for a second.
            await Task.Delay(500);
            var before = await Bus.StatusAsync(ticker);
            var cpuBefore = ProcessProbe.CpuTicks(tickerPid);
            await Task.Delay(1200);
            var after = await Bus.StatusAsync(ticker);
            var cpuAfter = ProcessProbe.CpuTicks(tickerPid);
            Assert.Equal(TaskState.Paused, after!.State);
            Assert.Equal(before!.TotalLines, after.TotalLines);
            Assert.Equal(before.Progress, after.Progress);
            Assert.Equal(cpuBefore, cpuAfter);
            Assert.All(new[] { tickerPid, sleepPid, grandchild }, p => Assert.Equal('T', ProcessProbe.State(p)));

            await Bus.ControlAsync(ticker, "resume");
            await Bus.ControlAsync(sleeper, "resume");
            await Bus.WaitForStatusAsync(ticker, s => s.State == TaskState.Running && s.TotalLines > after.TotalLines, TimeSpan.FromSeconds(10));
            await Bus.WaitForStatusAsync(sleeper, s => s.State == TaskState.Running, TimeSpan.FromSeconds(10));
            await ProcessProbe.WaitNotStateAsync('T', TimeSpan.FromSeconds(5), sleepPid, grandchild);

            var final = await Bus.WaitForFinalAsync(ticker, TimeSpan.FromSeconds(30));
            Assert.Equal(TaskState.Succeeded, final.State);
            Assert.Equal(100, final.Progress);
            Assert.Equal(100, final.Result!.Value.GetProperty("ticks").GetInt32());
            Assert.Equal(TaskState.Running, (await Bus.StatusAsync(sleeper))!.State);
        }
        finally
        {
            await StopAllAsync(sleeper, ticker);
        }
    }

    [Fact]
    public async Task A_stop_for_a_queued_task_means_it_never_starts_and_its_result_says_it_was_stopped_before_it_started()
    {
        // Occupy every guide so that the next task waits in the queue.
        var blockers = Enumerable.Range(0, _fixture.Node.Guides).Select(_ => HiveTestBus.NewId("block")).ToArray();
        var queued = HiveTestBus.NewId("queued");
        foreach (var blocker in blockers)
            await Bus.PublishTaskAsync(new { taskId = blocker, script = "sleep", args = new { seconds = 60 } });
        using var watch = new CancellationTokenSource();
        var seen = new List<TaskStatusDocument>();
        try
        {
            foreach (var blocker in blockers) await SleepingTreeAsync(blocker);
            await Bus.PublishTaskAsync(new { taskId = queued, script = "sample", args = new { steps = 1, delay = 0.1 } });
            var watcher = WatchStatusAsync(queued, seen, watch.Token);
            await Task.Delay(500);
            Assert.Null(await Bus.StatusAsync(queued));

            await Bus.ControlAsync(queued, "stop");
            await Task.Delay(500);
            // Free a guide: the queued task is taken next, and refused because it was stopped.
            await Bus.ControlAsync(blockers[0], "stop");

            var final = await Bus.WaitForFinalAsync(queued, TimeSpan.FromSeconds(20));
            Assert.Equal(TaskState.Stopped, final.State);
            Assert.Null(final.Pid);
            Assert.Null(final.StartedAt);
            var result = await Bus.WaitForResultAsync(queued, TimeSpan.FromSeconds(10));
            Assert.Equal(TaskState.Stopped, result.State);
            Assert.Contains("before it started", result.Reason);
            Assert.Null(result.StartedAt);
            await Task.Delay(1000);
            Assert.Single(Bus.ResultsFor(queued));
            watch.Cancel();
            await watcher;
            Assert.All(seen, s => Assert.Null(s.Pid));
            Assert.DoesNotContain(seen, s => s.State is TaskState.Running or TaskState.Paused or TaskState.Succeeded);
            Assert.DoesNotContain("started", await EventsOfAsync(queued));
        }
        finally
        {
            await StopAllAsync(blockers);
        }
    }

    [Fact]
    public async Task A_message_is_written_as_one_json_line_to_the_scripts_stdin()
    {
        var id = HiveTestBus.NewId("msg");
        await Bus.PublishTaskAsync(new { taskId = id, script = "echo-stdin", args = new { max = 2 }, progressLength = 10 });
        await Bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Lines.Contains("echo-stdin: ready"), TimeSpan.FromSeconds(20));

        await Bus.ControlAsync(id, "message", new { hello = "hive", n = 1 });
        var echoed = await Bus.WaitForStatusAsync(id, s => s.Lines.Contains("""echo: {"hello":"hive","n":1}"""), TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Running, echoed.State);
        // With fault injection off (the default), the fault route is an ordinary message.
        await Bus.ControlAsync(id, "message", new { hiveFault = "crash-guide" });

        var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(10));
        Assert.Equal(TaskState.Succeeded, final.State);
        Assert.Equal(1, final.Attempt);
        Assert.Contains("""echo: {"hiveFault":"crash-guide"}""", final.Lines);
        Assert.Equal(2, final.Result!.Value.GetProperty("messages").GetInt32());
    }

    [Fact]
    public async Task Pause_all_and_resume_all_reach_every_running_task_on_the_node_and_stop_all_ends_them()
    {
        var ids = Enumerable.Range(0, 3).Select(_ => HiveTestBus.NewId("all")).ToArray();
        foreach (var id in ids)
            await Bus.PublishTaskAsync(new { taskId = id, script = "ticker", args = new { ticks = 600, interval = 0.05 } });
        try
        {
            var pids = new List<int>();
            foreach (var id in ids)
                pids.Add((await Bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Pid is not null && s.TotalLines > 0, TimeSpan.FromSeconds(20))).Pid!.Value);

            await Bus.ControlAsync("all", "pause");
            foreach (var id in ids) await Bus.WaitForStatusAsync(id, s => s.State == TaskState.Paused, TimeSpan.FromSeconds(10));
            await ProcessProbe.WaitStateAsync('T', TimeSpan.FromSeconds(5), pids.ToArray());
            await Task.Delay(500);
            var frozen = new List<long>();
            foreach (var id in ids) frozen.Add((await Bus.StatusAsync(id))!.TotalLines);

            await Bus.ControlAsync("all", "resume");
            for (var i = 0; i < ids.Length; i++)
            {
                var seenLines = frozen[i];
                await Bus.WaitForStatusAsync(ids[i], s => s.State == TaskState.Running && s.TotalLines > seenLines, TimeSpan.FromSeconds(10));
            }
            await ProcessProbe.WaitNotStateAsync('T', TimeSpan.FromSeconds(5), pids.ToArray());

            await Bus.ControlAsync("all", "stop");
            foreach (var id in ids)
                Assert.Equal(TaskState.Stopped, (await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(15))).State);
            await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(5), pids.ToArray());
        }
        finally
        {
            await StopAllAsync(ids);
        }
    }

    [Fact]
    public async Task The_cli_pause_resume_and_stop_commands_control_a_running_task()
    {
        var id = HiveTestBus.NewId("cli");
        await Bus.PublishTaskAsync(new { taskId = id, script = "ticker", args = new { ticks = 1200, interval = 0.05 } });
        try
        {
            var pid = (await Bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Pid is not null, TimeSpan.FromSeconds(20))).Pid!.Value;

            var (pauseExit, pauseOutput) = await HiveCliRunner.RunAsync(_fixture.Brokers, "pause", id);
            Assert.True(pauseExit == 0, pauseOutput);
            await Bus.WaitForStatusAsync(id, s => s.State == TaskState.Paused, TimeSpan.FromSeconds(10));
            await ProcessProbe.WaitStateAsync('T', TimeSpan.FromSeconds(5), pid);

            var (resumeExit, resumeOutput) = await HiveCliRunner.RunAsync(_fixture.Brokers, "resume", id);
            Assert.True(resumeExit == 0, resumeOutput);
            var resumed = await Bus.WaitForStatusAsync(id, s => s.State == TaskState.Running, TimeSpan.FromSeconds(10));
            await ProcessProbe.WaitNotStateAsync('T', TimeSpan.FromSeconds(5), pid);
            await Bus.WaitForStatusAsync(id, s => s.TotalLines > resumed.TotalLines, TimeSpan.FromSeconds(10));

            var (stopExit, stopOutput) = await HiveCliRunner.RunAsync(_fixture.Brokers, "stop", id);
            Assert.True(stopExit == 0, stopOutput);
            var final = await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(15));
            Assert.Equal(TaskState.Stopped, final.State);
            Assert.Contains("cli@", final.Reason);
            await ProcessProbe.WaitGoneAsync(StopGrace, pid);
        }
        finally
        {
            await StopAllAsync(id);
        }
    }

    /// <summary>Waits for sleep.sh to report its grandchild ("sleeping:&lt;pid&gt;"); returns (script pid, grandchild pid).</summary>
    private Task<(int Pid, int Grandchild)> SleepingTreeAsync(string id) => SharedNodeFixture.SleepingTreeAsync(Bus, id);

    private Task StopAllAsync(params string[] ids) => _fixture.StopAllAsync(ids);

    private async Task<IReadOnlyList<string>> EventsOfAsync(string id) => await _fixture.EventsOfAsync(id);

    private async Task WatchStatusAsync(string id, List<TaskStatusDocument> seen, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            if (await Bus.StatusAsync(id) is { } doc) lock (seen) seen.Add(doc);
            try { await Task.Delay(20, ct); }
            catch (OperationCanceledException) { return; }
        }
    }
}

/// <summary>
/// One broker pair, one real node and one test bus for a whole test class. Tests in a class run one at a time;
/// each uses unique task ids and must leave no task running or queued (see <see cref="StopAllAsync"/>).
/// </summary>
public abstract class SharedNodeFixture : IAsyncLifetime
{
    private readonly int _guides;
    private readonly string _extraHocon;

    protected SharedNodeFixture(int guides, string extraHocon)
    {
        _guides = guides;
        // A short drain keeps the class's teardown quick should a test leave something running.
        _extraHocon = "hive.node.drain-timeout = 2s\n" + extraHocon;
    }

    public BrokersFixture Brokers { get; } = new();
    public HiveNodeProcess Node { get; private set; } = null!;
    public HiveTestBus Bus { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await Brokers.InitializeAsync();
        Bus = await HiveTestBus.ConnectAsync(Brokers);
        Node = await HiveNodeProcess.StartAsync(Brokers, _guides, _extraHocon);
    }

    public async ValueTask DisposeAsync()
    {
        if (Node is not null)
        {
            await Node.DisposeAsync();
            // The node's whole log, for a failed run: bin/…/test-logs/<TestClass>-node.log (replaced on each run).
            var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "test-logs")).FullName;
            await File.WriteAllTextAsync(Path.Combine(logs, $"{GetType().DeclaringType?.Name ?? GetType().Name}-node.log"), Node.Log);
        }
        if (Bus is not null) await Bus.DisposeAsync();
        await Brokers.DisposeAsync();
    }

    /// <summary>Stops each task that has not ended and waits until it has, so the next test finds every guide free.</summary>
    public async Task StopAllAsync(params string[] ids)
    {
        foreach (var id in ids)
            if (await Bus.StatusAsync(id) is not { } s || !s.State.IsFinal())
                await Bus.ControlAsync(id, "stop");
        foreach (var id in ids)
        {
            try { await Bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(15)); }
            catch (TimeoutException) { }
        }
    }

    /// <summary>The event names hive:events holds for a task, oldest first.</summary>
    public async Task<IReadOnlyList<string>> EventsOfAsync(string id)
    {
        var entries = await Bus.Redis.StreamRangeAsync(RedisKeys.Events);
        return entries
            .Where(e => e["taskId"] == id)
            .Select(e => e["event"].ToString())
            .ToArray();
    }

    /// <summary>Waits for sleep.sh to report its grandchild ("sleeping:&lt;pid&gt;"); returns (script pid, grandchild pid).</summary>
    public static async Task<(int Pid, int Grandchild)> SleepingTreeAsync(HiveTestBus bus, string id)
    {
        var doc = await bus.WaitForStatusAsync(id,
            s => s.State == TaskState.Running && s.Pid is not null && s.Stage?.StartsWith("sleeping:", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(20));
        return (doc.Pid!.Value, int.Parse(doc.Stage!["sleeping:".Length..], CultureInfo.InvariantCulture));
    }
}

/// <summary>Reads /proc: process state letters and CPU time.</summary>
public static class ProcessProbe
{
    /// <summary>The state letter of /proc/&lt;pid&gt;/stat (R, S, T, Z…), or null when there is no such process.</summary>
    public static char? State(int pid) => Fields(pid) is { } f ? f[0][0] : null;

    /// <summary>
    /// True while the process exists and has not exited. A zombie counts as gone: an orphaned grandchild is
    /// reparented to PID 1, which in this sandbox does not reap, so its /proc entry can outlive it as state Z.
    /// </summary>
    public static bool IsAlive(int pid) => State(pid) is { } s && s != 'Z' && s != 'X';

    /// <summary>utime + stime of the process, in clock ticks.</summary>
    public static long CpuTicks(int pid)
    {
        var f = Fields(pid) ?? throw new InvalidOperationException($"pid {pid} is gone");
        // Fields after the command: [0] = state (field 3), so utime (field 14) is [11] and stime (field 15) is [12].
        return long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
    }

    public static Task WaitGoneAsync(TimeSpan timeout, params int[] pids) =>
        WaitAsync(timeout, pids, p => !IsAlive(p), "to be gone");

    public static Task WaitStateAsync(char state, TimeSpan timeout, params int[] pids) =>
        WaitAsync(timeout, pids, p => State(p) == state, $"to be in state {state}");

    /// <summary>
    /// Stopped (T), or waiting in the kernel (D) on a child that is stopped: dash starts commands with vfork, and a
    /// group SIGSTOP that lands between the child's vfork and its exec stops the child there, leaving the shell in its
    /// vfork wait (shown as D) until the child is continued. Either way the process runs nothing.
    /// </summary>
    public static bool IsFrozen(int pid) =>
        State(pid) switch
        {
            'T' => true,
            'D' => ChildrenOf(pid).Any(child => State(child) == 'T'),
            _ => false,
        };

    public static Task WaitFrozenAsync(TimeSpan timeout, params int[] pids) =>
        WaitAsync(timeout, pids, IsFrozen, "to be stopped (T, or D on a stopped vfork child)");

    private static IEnumerable<int> ChildrenOf(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/task/{pid}/children"); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException) { return []; }
        return text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, CultureInfo.InvariantCulture));
    }

    public static Task WaitNotStateAsync(char state, TimeSpan timeout, params int[] pids) =>
        WaitAsync(timeout, pids, p => IsAlive(p) && State(p) != state, $"to be alive and not in state {state}");

    private static async Task WaitAsync(TimeSpan timeout, int[] pids, Func<int, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!pids.All(done))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"expected pids {string.Join(", ", pids)} {what} within {timeout}; states: " +
                    string.Join(", ", pids.Select(p => $"{p}={State(p)?.ToString() ?? "gone"}")));
            await Task.Delay(20);
        }
    }

    private static string[]? Fields(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException) { return null; }
        // The command (field 2) is in parentheses and may hold spaces: split after its closing parenthesis.
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }
}
