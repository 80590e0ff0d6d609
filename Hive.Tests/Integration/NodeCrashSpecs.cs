using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Actors.Processes;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Integration;

/// <summary>
/// `kill -9` of a node in the middle of its tasks: nothing is lost, nothing is reported twice, and the scripts the dead
/// node left running (they live in their own sessions, so the kernel does not take them down with it) are killed by the
/// node's next start, from its run ledger, before it takes tasks.
/// </summary>
public sealed class NodeCrashSpecs : IClassFixture<BrokersFixture>
{
    private const int SleepSeconds = 6;
    private readonly BrokersFixture _brokers;

    public NodeCrashSpecs(BrokersFixture brokers) => _brokers = brokers;

    [Fact]
    public async Task A_node_killed_with_sigkill_mid_task_loses_nothing_reports_every_task_once_and_its_restart_kills_the_scripts_it_orphaned()
    {
        var workDir = Directory.CreateTempSubdirectory("hive-crash-work-").FullName;
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        await using var backend = new CallbackListener();
        var node = await HiveNodeProcess.StartAsync(_brokers, guides: 3, name: $"crash-{Guid.NewGuid().ToString("N")[..6]}",
            extraHocon: $"hive.tasks.work-dir = \"{workDir}\"");
        var frozen = new List<(int Group, ulong? StartTime)>();
        try
        {
            // Three long scripts occupy the three guides; three short ones wait on the queue behind them.
            var sleepers = Enumerable.Range(0, 3).Select(_ => HiveTestBus.NewId("sleep")).ToArray();
            foreach (var id in sleepers)
                await bus.PublishTaskAsync(new
                {
                    taskId = id, script = "sleep", args = new { seconds = SleepSeconds }, maxAttempts = 3,
                    acceptUrl = backend.Url("accepted"), responseUrl = backend.Url("done"),
                });
            var running = new List<TaskStatusDocument>();
            foreach (var id in sleepers)
                running.Add(await bus.WaitForStatusAsync(id, s => s.State == TaskState.Running && s.Pid is not null && s.Stage?.StartsWith("sleeping:") == true,
                    TimeSpan.FromSeconds(30)));

            var samples = Enumerable.Range(0, 3).Select(_ => HiveTestBus.NewId("sample")).ToArray();
            foreach (var id in samples)
                await bus.PublishTaskAsync(new
                {
                    taskId = id, script = "sample", args = new { steps = 4, delay = 0.25 }, maxAttempts = 3,
                    acceptUrl = backend.Url("accepted"), responseUrl = backend.Url("done"),
                });

            // Every script process of the first attempts: the group leaders (bash), their members and the grandchild sleeps.
            var leaders = running.Select(s => s.Pid!.Value).ToArray();
            var grandchildren = running.Select(s => int.Parse(s.Stage!["sleeping:".Length..], CultureInfo.InvariantCulture)).ToArray();
            var scriptPids = leaders.SelectMany(ProcFs.GroupMembers).Concat(grandchildren).Distinct().ToArray();
            Assert.All(grandchildren, pid => Assert.True(ProcFs.IsAlive(pid), $"grandchild sleep {pid} should run"));

            var ledger = RunLedger.ForNode(workDir, node.Name);
            Assert.Equal(leaders.Order(), ledger.ReadFile().Select(e => e.ProcessGroup).Order());

            await node.KillAsync();

            // The gap the ledger closes: a SIGKILLed node takes nothing down with it.
            Assert.All(scriptPids, pid => Assert.True(ProcFs.IsAlive(pid), $"script process {pid} died with the node; the orphan check below proves nothing"));

            // Freeze the orphans, as a task paused at the moment of the crash would be: they cannot end on their own,
            // however long the restart takes, so only the sweep can make them disappear.
            foreach (var leader in leaders)
            {
                frozen.Add((leader, RunLedger.ReadStartTime(leader)));
                Assert.Equal(0, ProcFs.SignalGroup(leader, ProcFs.SIGSTOP));
            }

            await ProcessProbe.WaitStateAsync('T', TimeSpan.FromSeconds(5), scriptPids.ToArray());

            await node.StartAsync();

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (scriptPids.Any(ProcFs.IsAlive) && DateTime.UtcNow < deadline) await Task.Delay(50);
            var survivors = scriptPids.Where(ProcFs.IsAlive).ToArray();
            Assert.True(survivors.Length == 0,
                $"orphaned script processes still alive 5 s after the restart: {string.Join(", ", survivors.Select(ProcFs.Describe))}\n{node.Log}");
            Assert.Contains("killed 3 live process group(s)", node.Log);

            // Every task ends exactly once: the orphaned ones re-run from their durable claims, the queued ones run once.
            foreach (var id in sleepers.Concat(samples))
            {
                var final = await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(60));
                Assert.True(final.State == TaskState.Succeeded, $"{id} ended {final.State.ToWire()}: {final.Reason}");
            }

            // Settle: a duplicate delivery, if any, would arrive now.
            await Task.Delay(TimeSpan.FromSeconds(3));

            foreach (var id in sleepers.Concat(samples))
            {
                var results = bus.ResultsFor(id);
                Assert.True(results.Count == 1, $"{id}: {results.Count} results on hive.results: {string.Join(" | ", results.Select(r => $"{r.State.ToWire()} attempt {r.Attempt}"))}");
                Assert.Equal(TaskState.Succeeded, results[0].State);

                var finished = backend.Requests.Where(r => r.Path == "/done" && r.Json.GetProperty("taskId").GetString() == id).ToArray();
                Assert.True(finished.Length == 1, $"{id}: {finished.Length} finished callbacks");
                Assert.Equal("finished", finished[0].Json.GetProperty("event").GetString());
                Assert.Equal("succeeded", finished[0].Json.GetProperty("state").GetString());

                var expectedAttempt = sleepers.Contains(id) ? 2 : 1;
                Assert.Equal(expectedAttempt, results[0].Attempt);
                Assert.Equal(expectedAttempt, finished[0].Json.GetProperty("attempts").GetInt32());
                Assert.Equal($"{id}:{expectedAttempt}:finished", finished[0].Headers["Idempotency-Key"]);
            }

            // The re-runs ran on the restarted node (new script processes), and its ledger is empty again.
            Assert.Empty(ledger.ReadFile());
        }
        finally
        {
            // Never leave frozen processes behind when the test failed before the sweep (same start time: same process).
            foreach (var (group, startTime) in frozen)
                if (startTime is not null && RunLedger.ReadStartTime(group) == startTime) ProcFs.SignalGroup(group, ProcFs.SIGKILL);
            await node.DisposeAsync();
            try { Directory.Delete(workDir, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task The_run_ledger_records_a_running_script_group_and_a_later_sweep_kills_it_and_empties_the_ledger()
    {
        var workDir = Directory.CreateTempSubdirectory("hive-ledger-").FullName;
        try
        {
            var ledger = RunLedger.ForNode(workDir, "node/with odd:name");
            Assert.Equal(Path.Combine(workDir, "node_with_odd_name.runs"), ledger.Path);
            var launch = ScriptLaunch.ForCommand("sleep 30 & sleep 30; wait", "ledger-task", 1, workDir);
            await using var run = ScriptProcess.Start(launch, ScriptRunOptions.Default, new NoObserver());
            Assert.Null(ledger.Track(run));
            var entry = Assert.Single(ledger.ReadFile());
            Assert.Equal(run.Pid, entry.ProcessGroup);
            Assert.Equal(RunLedger.ReadStartTime(run.Pid), entry.StartTime);
            Assert.Equal(run.RunId, entry.RunId);
            await WaitForAsync(() => ProcFs.GroupMembers(run.Pid).Count >= 3, "the shell and both sleeps run");
            var members = ProcFs.GroupMembers(run.Pid);

            // What the restarted node does: a fresh ledger over the same file.
            var sweep = RunLedger.ForNode(workDir, "node/with odd:name").SweepOrphans();
            Assert.Equal(run.Pid, Assert.Single(sweep.Killed).ProcessGroup);
            var exit = await run.Completion.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(9, exit.Signal);
            Assert.All(members, pid => Assert.False(ProcFs.IsAlive(pid), $"{ProcFs.Describe(pid)} survived the sweep"));
            Assert.Empty(ledger.ReadFile());
            Assert.False(Directory.Exists(launch.WorkingDirectory));
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    [Fact]
    public async Task A_ledger_sweep_never_kills_a_process_that_merely_reuses_a_recorded_pid()
    {
        var workDir = Directory.CreateTempSubdirectory("hive-ledger-").FullName;
        using var stranger = Process.Start(new ProcessStartInfo("/usr/bin/setsid", ["--", "sleep", "30"]))!;
        try
        {
            await WaitForAsync(() => RunLedger.ReadStartTime(stranger.Id) is not null, "the stranger runs");
            var bootId = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
            var startTime = RunLedger.ReadStartTime(stranger.Id)!.Value;
            var ledger = RunLedger.ForNode(workDir, "recycled");
            // Same pid, but another start time (the recorded script died and the kernel gave its pid to this process),
            // and same pid and start time but another boot: neither may be killed.
            File.WriteAllLines(ledger.Path,
            [
                new RunLedgerEntry(bootId, stranger.Id, startTime + 1, Guid.NewGuid().ToString("N"), Path.Combine(workDir, "a")).ToLine(),
                new RunLedgerEntry("another-boot", stranger.Id, startTime, Guid.NewGuid().ToString("N"), Path.Combine(workDir, "b")).ToLine(),
            ]);

            var sweep = ledger.SweepOrphans();
            Assert.Equal(2, sweep.Recorded.Count);
            Assert.Empty(sweep.Killed);
            await Task.Delay(200);
            Assert.True(ProcFs.IsAlive(stranger.Id), "the sweep killed a process it never started");
            Assert.Empty(ledger.ReadFile());
        }
        finally
        {
            stranger.Kill(entireProcessTree: true);
            await stranger.WaitForExitAsync();
            Directory.Delete(workDir, recursive: true);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within 10 s: {what}");
            await Task.Delay(20);
        }
    }

    private sealed class NoObserver : IScriptObserver
    {
        public void OnSnapshot(ScriptSnapshot snapshot) { }

        public void OnExit(ScriptExit exit) { }
    }
}

/// <summary>Reads processes from /proc for assertions about script processes.</summary>
internal static class ProcFs
{
    public const int SIGKILL = 9;
    public const int SIGSTOP = 19;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int sig);

    /// <summary>kill(-pgid, signal); 0 on success.</summary>
    public static int SignalGroup(int pgid, int signal) => Kill(-pgid, signal);

    /// <summary>True while the process exists and is not a zombie (a zombie has finished; it only waits to be reaped).</summary>
    public static bool IsAlive(int pid) => Stat(pid) is { } s && s.State != 'Z' && s.State != 'X';

    /// <summary>Live members of process group <paramref name="pgid"/>.</summary>
    public static IReadOnlyList<int> GroupMembers(int pgid)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (Stat(pid) is { } s && s.Group == pgid && s.State != 'Z') members.Add(pid);
        }
        return members;
    }

    /// <summary>The process's state letter (R, S, T for stopped, Z…), or null when it is gone.</summary>
    public static char? State(int pid) => Stat(pid)?.State;

    public static string Describe(int pid) =>
        Stat(pid) is { } s ? $"{pid} ({ReadComm(pid)}, state {s.State}, pgid {s.Group})" : $"{pid} (gone)";

    private static (char State, int Group)? Stat(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        var close = text.LastIndexOf(')');
        var fields = text[(close + 2)..].Split(' ');
        return (fields[0][0], int.Parse(fields[2], CultureInfo.InvariantCulture));
    }

    private static string ReadComm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "?"; }
    }
}
