using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using StackExchange.Redis;
using Xunit;
using static Hive.Tests.Hardening.HardeningProbes;

namespace Hive.Tests.Hardening;

/// <summary>
/// Scripts that misbehave (tasks/misbehave-*.sh) against one real node and real brokers: output floods, binary output,
/// scripts that never end, ignore SIGTERM, leave children behind, read stdin or fill their disk. Every case ends with
/// the task in exactly one final state, one result, no process of it left, and the node still serving.
/// </summary>
public sealed class MisbehavingScriptSpecs : IClassFixture<MisbehavingScriptSpecs.NodeFixture>
{
    public const int FloodMiB = 300;
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);
    private readonly NodeFixture _fixture;

    public MisbehavingScriptSpecs(NodeFixture fixture) => _fixture = fixture;

    private HiveTestBus Bus => _fixture.Bus;

    /// <summary>
    /// Brokers, a bus and a node with 4 guides whose work-dir (hive.tasks.work-dir) is a 20 MiB tmpfs when this process
    /// may mount one (root, as in CI); otherwise a plain temp folder and the disk-full case is skipped.
    /// </summary>
    public sealed class NodeFixture : IAsyncLifetime
    {
        public const int DiskMiB = 20;
        private readonly string _workRoot = Directory.CreateTempSubdirectory("hive-hardening-work-").FullName;

        public BrokersFixture Brokers { get; } = new();
        public HiveTestBus Bus { get; private set; } = null!;
        public HardenedNode Node { get; private set; } = null!;
        public string WorkRoot => _workRoot;
        public bool WorkRootIsSmallDisk { get; private set; }

        public async ValueTask InitializeAsync()
        {
            var mount = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={DiskMiB}m,mode=0755", "tmpfs", _workRoot);
            WorkRootIsSmallDisk = mount.ExitCode == 0;
            await Brokers.InitializeAsync();
            Bus = await HiveTestBus.ConnectAsync(Brokers);
            Node = await HardenedNode.StartAsync(new HardenedNode.Options(Brokers.Rabbit.Uri, Brokers.Redis.ConnectionString)
            {
                Guides = 4,
                ExtraHocon = $"""
                    hive.tasks.work-dir = "{_workRoot}"
                    hive.tasks.stop-grace = {(int)StopGrace.TotalSeconds}s
                    hive.redis.progress-interval = 200ms
                    """,
            });
        }

        public async ValueTask DisposeAsync()
        {
            if (Node is not null) await Node.DisposeAsync();
            if (Bus is not null) await Bus.DisposeAsync();
            await Brokers.DisposeAsync();
            if (WorkRootIsSmallDisk) await RunAsync("umount", "-l", _workRoot);
            try { Directory.Delete(_workRoot, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_300_MiB_output_flood_keeps_the_node_memory_and_the_redis_status_bounded_and_ends_succeeded() =>
        await FloodAsync(FloodMiB, TimeSpan.FromMinutes(2), maxRssGrowthMiB: 150);

    /// <summary>The full 1 GiB flood (lines, and one endless line) — soak only: dotnet test Hive.Tests --filter Category=Soak (deploy/test.sh leaves it out).</summary>
    [Fact]
    [Trait("Category", "Soak")]
    public async Task Soak_a_1_GiB_output_flood_keeps_the_node_memory_and_the_redis_status_bounded() =>
        await FloodAsync(1024, TimeSpan.FromMinutes(8), maxRssGrowthMiB: 150);


    private async Task FloodAsync(int mib, TimeSpan within, int maxRssGrowthMiB)
    {
        var node = _fixture.Node;
        var lines = HiveTestBus.NewId("flood-lines");
        var oneLine = HiveTestBus.NewId("flood-noline");
        var baseline = node.VmRssKiB();
        using var stop = new CancellationTokenSource();
        var rss = node.SampleMaxRssAsync(TimeSpan.FromMilliseconds(100), stop.Token);
        var strlen = MaxStrlenAsync([RedisKeys.Task(lines), RedisKeys.Task(oneLine)], stop.Token);
        var clock = Stopwatch.StartNew();
        await Bus.PublishTaskAsync(new { taskId = lines, script = "misbehave-flood", args = new { mb = mib }, maxAttempts = 1 });
        await Bus.PublishTaskAsync(new { taskId = oneLine, script = "misbehave-flood", args = new { mb = mib, mode = "noline" }, maxAttempts = 1 });

        var (linesStatus, linesResult) = await AssertOneFinalEndAsync(Bus, lines, within);
        var (oneLineStatus, _) = await AssertOneFinalEndAsync(Bus, oneLine, within);
        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        var peakKiB = await rss;
        var maxStrlen = await strlen;

        Assert.Equal(TaskState.Succeeded, linesStatus.State);
        Assert.Equal(TaskState.Succeeded, oneLineStatus.State);
        // 100-byte lines: mib MiB of them, plus the last "done" line.
        Assert.True(linesStatus.TotalLines >= mib * 1024L * 1024 / 100, $"total lines {linesStatus.TotalLines}");
        // `yes | head` ends yes by SIGPIPE, silently: scripts start with SIGPIPE at its default, not ignored like the node's.
        Assert.DoesNotContain(linesStatus.Lines, l => l.Contains("Broken pipe", StringComparison.Ordinal));
        Assert.Equal($"flood: done {mib} MiB", linesStatus.Lines[^1]);
        Assert.Equal($"flood: done {mib} MiB", linesResult.Lines[^1]);
        Assert.Equal($"flood: done {mib} MiB", oneLineStatus.Lines[^1]);
        // The endless line is cut at hive.tasks.max-line-bytes (64 KiB), never kept whole.
        Assert.All(oneLineStatus.Lines, l => Assert.True(l.Length <= 64 * 1024 + 4, $"a kept line has {l.Length} characters"));
        await AssertNoProcessLeftAsync(lines, TimeSpan.FromSeconds(5));
        await AssertNoProcessLeftAsync(oneLine, TimeSpan.FromSeconds(5));

        var growthMiB = (peakKiB - baseline) / 1024.0;
        Report($"flood {mib} MiB x2 (100-byte lines + one endless line) in {elapsed.TotalSeconds:0.0} s; node VmRSS before {baseline / 1024.0:0} MiB, " +
               $"peak {peakKiB / 1024.0:0} MiB (+{growthMiB:0} MiB); largest hive:task value {maxStrlen / 1024.0:0.0} KiB");
        Assert.True(growthMiB < maxRssGrowthMiB, $"node VmRSS grew by {growthMiB:0} MiB while {2 * mib} MiB flowed through it");
        // 20 kept lines of at most 64 KiB each, plus the document's fields.
        Assert.True(maxStrlen < 20 * 64 * 1024 + 64 * 1024, $"hive:task value reached {maxStrlen} bytes");
        Assert.True(node.IsRunning);
    }

    private async Task<long> MaxStrlenAsync(RedisKey[] keys, CancellationToken stop)
    {
        long max = 0;
        while (!stop.IsCancellationRequested)
        {
            foreach (var key in keys) max = Math.Max(max, await Bus.Redis.StringLengthAsync(key));
            try { await Task.Delay(100, stop); }
            catch (OperationCanceledException) { break; }
        }
        return max;
    }

    [Fact]
    public async Task Invalid_utf8_nul_bytes_and_binary_output_end_in_a_clean_status_and_result()
    {
        var id = HiveTestBus.NewId("binary");
        await Bus.PublishTaskAsync(new { taskId = id, script = "misbehave-binary", timeoutSeconds = 60, maxAttempts = 1, progressLength = 1000, resultLength = 1000 });

        var (status, result) = await AssertOneFinalEndAsync(Bus, id, TimeSpan.FromSeconds(60));
        Assert.Equal(TaskState.Succeeded, status.State);
        Assert.True(status.Lines[^1] == "binary: done", $"{status.TotalLines} lines, {status.Lines.Count} kept; last ones: " +
            string.Join(" | ", status.Lines.TakeLast(4).Select(l => l.Length > 40 ? l[..40] : l)));
        Assert.Equal("binary: begin", status.Lines[0]);
        Assert.Contains(status.Lines, l => l.StartsWith("bad utf-8: \uFFFD(", StringComparison.Ordinal) && l.EndsWith(" end", StringComparison.Ordinal));
        Assert.Contains("nul:\0:byte", status.Lines);
        // The ##hive line with invalid UTF-8 decodes to a stage with U+FFFD; the last valid one wins.
        Assert.Equal("done", status.Stage);
        Assert.Equal(100, status.Progress);
        Assert.Equal(status.Lines, result.Lines);
        // Every kept line is valid UTF-16 (no lone surrogates), so the Redis value and the result are valid UTF-8 JSON.
        var strict = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        Assert.All(status.Lines, l => strict.GetBytes(l));
        var raw = (byte[])(await Bus.Redis.StringGetAsync(RedisKeys.Task(id)))!;
        using (JsonDocument.Parse(raw)) { }
        await AssertNoProcessLeftAsync(id, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_script_that_never_ends_is_timed_out_once_and_its_processes_are_killed()
    {
        var id = HiveTestBus.NewId("forever");
        await Bus.PublishTaskAsync(new { taskId = id, script = "misbehave-forever", timeoutSeconds = 2, maxAttempts = 3 });

        var (status, result) = await AssertOneFinalEndAsync(Bus, id, TimeSpan.FromSeconds(60));
        Assert.Equal(TaskState.TimedOut, status.State);
        Assert.Equal(1, result.Attempt);
        Assert.Contains("timed out", result.Reason);
        Assert.Contains("tick", status.Lines);
        await AssertNoProcessLeftAsync(id, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_script_ignoring_sigterm_is_killed_after_the_grace_period_on_stop_and_on_timeout()
    {
        var stopped = HiveTestBus.NewId("ignore-stop");
        var timedOut = HiveTestBus.NewId("ignore-timeout");
        await Bus.PublishTaskAsync(new { taskId = stopped, script = "misbehave-ignore-term", maxAttempts = 1 });
        await Bus.PublishTaskAsync(new { taskId = timedOut, script = "misbehave-ignore-term", timeoutSeconds = 2, maxAttempts = 1 });
        var running = await Bus.WaitForStatusAsync(stopped, s => s.Pid is not null && s.Stage?.StartsWith("ignoring:", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(30));
        var child = int.Parse(running.Stage!["ignoring:".Length..], CultureInfo.InvariantCulture);

        var clock = Stopwatch.StartNew();
        await Bus.ControlAsync(stopped, "stop");
        // SIGTERM is ignored: the script and its child are still there just before the grace ends.
        await Task.Delay(StopGrace - TimeSpan.FromMilliseconds(700));
        Assert.True(ProcessProbe.IsAlive(running.Pid!.Value) && ProcessProbe.IsAlive(child), "the script ignores SIGTERM, so it lives until the SIGKILL");
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(10), running.Pid!.Value, child);
        var goneAfter = clock.Elapsed;

        var (stopStatus, stopResult) = await AssertOneFinalEndAsync(Bus, stopped, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Stopped, stopStatus.State);
        Assert.Equal(Signals.SigKill, stopResult.Signal);
        var (timeoutStatus, timeoutResult) = await AssertOneFinalEndAsync(Bus, timedOut, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.TimedOut, timeoutStatus.State);
        Assert.Equal(Signals.SigKill, timeoutResult.Signal);
        await AssertNoProcessLeftAsync(stopped, TimeSpan.FromSeconds(5));
        await AssertNoProcessLeftAsync(timedOut, TimeSpan.FromSeconds(5));
        Report($"SIGTERM-ignoring script gone {goneAfter.TotalMilliseconds:0} ms after the stop (grace {StopGrace.TotalSeconds:0} s)");
        Assert.True(goneAfter >= StopGrace - TimeSpan.FromMilliseconds(200), $"gone after {goneAfter}, before the grace period ended");
    }

    [Fact]
    public async Task Children_grandchildren_and_daemons_left_behind_by_an_exiting_script_are_killed_and_the_task_ends_with_its_exit_code()
    {
        var failed = HiveTestBus.NewId("forker-7");
        var succeeded = HiveTestBus.NewId("forker-0");
        await Bus.PublishTaskAsync(new { taskId = failed, script = "misbehave-forker", args = new { exit = 7 }, maxAttempts = 1 });
        await Bus.PublishTaskAsync(new { taskId = succeeded, script = "misbehave-forker", args = new { exit = 0 }, maxAttempts = 1 });

        var (failedStatus, failedResult) = await AssertOneFinalEndAsync(Bus, failed, TimeSpan.FromSeconds(60));
        Assert.Equal(TaskState.Failed, failedStatus.State);
        Assert.Equal(7, failedResult.ExitCode);
        Assert.Equal("exit code 7", failedResult.Reason);
        var (okStatus, okResult) = await AssertOneFinalEndAsync(Bus, succeeded, TimeSpan.FromSeconds(60));
        Assert.Equal(TaskState.Succeeded, okStatus.State);
        Assert.Equal(0, okResult.ExitCode);

        // Five 300-second sleepers per run, each gone long before its sleep would end.
        foreach (var status in new[] { failedStatus, okStatus })
        {
            var pids = Pids(status);
            Assert.Equal(5, pids.Length);
            await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(5), pids);
        }
        await AssertNoProcessLeftAsync(failed, TimeSpan.FromSeconds(5));
        await AssertNoProcessLeftAsync(succeeded, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_stopped_or_timed_out_script_takes_its_children_grandchildren_and_daemons_with_it()
    {
        var stopped = HiveTestBus.NewId("forker-stop");
        var timedOut = HiveTestBus.NewId("forker-timeout");
        await Bus.PublishTaskAsync(new { taskId = stopped, script = "misbehave-forker", args = new { stay = true }, maxAttempts = 1 });
        await Bus.PublishTaskAsync(new { taskId = timedOut, script = "misbehave-forker", args = new { stay = true }, timeoutSeconds = 3, maxAttempts = 1 });
        var running = await Bus.WaitForStatusAsync(stopped, s => s.State == TaskState.Running && s.Stage?.StartsWith("pids:", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(30));
        var pids = Pids(running);
        Assert.True(pids.All(ProcessProbe.IsAlive), "every process of the run is alive before the stop");

        await Bus.ControlAsync(stopped, "stop");
        await ProcessProbe.WaitGoneAsync(StopGrace + TimeSpan.FromSeconds(5), pids);
        var (stopStatus, _) = await AssertOneFinalEndAsync(Bus, stopped, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Stopped, stopStatus.State);

        var (timeoutStatus, _) = await AssertOneFinalEndAsync(Bus, timedOut, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.TimedOut, timeoutStatus.State);
        await ProcessProbe.WaitGoneAsync(TimeSpan.FromSeconds(5), Pids(timeoutStatus));
        await AssertNoProcessLeftAsync(stopped, TimeSpan.FromSeconds(5));
        await AssertNoProcessLeftAsync(timedOut, TimeSpan.FromSeconds(5));
    }

    private static int[] Pids(TaskStatusDocument status)
    {
        Assert.True(status.Stage?.StartsWith("pids:", StringComparison.Ordinal) == true, $"stage is '{status.Stage}'");
        return status.Stage!["pids:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
    }

    [Fact]
    public async Task A_script_reading_stdin_gets_messages_and_no_end_of_file_until_its_timeout_and_a_closed_stdin_disturbs_nothing()
    {
        var reader = HiveTestBus.NewId("stdin");
        var closer = HiveTestBus.NewId("stdin-closed");
        var bystander = HiveTestBus.NewId("stdin-bystander");
        await Bus.PublishTaskAsync(new { taskId = reader, script = "misbehave-stdin", timeoutSeconds = 6, maxAttempts = 1 });
        await Bus.PublishTaskAsync(new { taskId = closer, script = "misbehave-stdin", args = new { close = true }, maxAttempts = 1 });
        await Bus.WaitForStatusAsync(reader, s => s.Stage == "reading", TimeSpan.FromSeconds(30));
        await Bus.WaitForStatusAsync(closer, s => s.Stage == "closed", TimeSpan.FromSeconds(30));

        await Bus.ControlAsync(reader, "message", new { n = 1 });
        await Bus.ControlAsync(closer, "message", new { n = 2 });
        await Bus.WaitForStatusAsync(reader, s => s.Lines.Contains("got: {\"n\":1}"), TimeSpan.FromSeconds(15));
        // Another task runs meanwhile: a script blocked on stdin holds only its own guide.
        await Bus.PublishTaskAsync(new { taskId = bystander, script = "trivial" });
        Assert.Equal(TaskState.Succeeded, (await AssertOneFinalEndAsync(Bus, bystander, TimeSpan.FromSeconds(30))).Status.State);

        var (closedStatus, _) = await AssertOneFinalEndAsync(Bus, closer, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Succeeded, closedStatus.State);
        Assert.Equal("stdin: closed and done", closedStatus.Lines[^1]);
        var (readerStatus, _) = await AssertOneFinalEndAsync(Bus, reader, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.TimedOut, readerStatus.State);
        Assert.DoesNotContain("stdin: end of file", readerStatus.Lines);
        await AssertNoProcessLeftAsync(reader, TimeSpan.FromSeconds(5));
        await AssertNoProcessLeftAsync(closer, TimeSpan.FromSeconds(5));
        Assert.True(_fixture.Node.IsRunning);
    }

    [Fact]
    public async Task A_script_filling_its_working_disk_fails_with_the_reason_while_other_tasks_run_and_the_space_comes_back()
    {
        Assert.SkipUnless(_fixture.WorkRootIsSmallDisk, "mounting a tmpfs for the work-dir needs root");
        var filler = HiveTestBus.NewId("disk");
        await Bus.PublishTaskAsync(new { taskId = filler, script = "misbehave-disk", args = new { hold = 4 }, maxAttempts = 1, resultLength = 5 });
        await Bus.WaitForStatusAsync(filler, s => s.Stage == "full", TimeSpan.FromSeconds(30));
        Assert.True(new DriveInfo(_fixture.WorkRoot).AvailableFreeSpace < 64 * 1024, "the work disk is full");

        // While the disk is full, other tasks still start (their working folders take no data blocks) and succeed.
        var others = new[] { HiveTestBus.NewId("disk-trivial"), HiveTestBus.NewId("disk-sample-sh") };
        await Bus.PublishTaskAsync(new { taskId = others[0], script = "trivial" });
        await Bus.PublishTaskAsync(new { taskId = others[1], script = "sample-sh", args = new { steps = 2, delay = 0.1 } });
        foreach (var other in others)
            Assert.Equal(TaskState.Succeeded, (await AssertOneFinalEndAsync(Bus, other, TimeSpan.FromSeconds(30))).Status.State);

        var (status, result) = await AssertOneFinalEndAsync(Bus, filler, TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Failed, status.State);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("exit code 1", result.Reason);
        Assert.Contains(result.Lines, l => l.Contains("No space left on device", StringComparison.Ordinal));
        await AssertNoProcessLeftAsync(filler, TimeSpan.FromSeconds(5));

        // The run's folder is removed with it, so the space comes back and the node goes on (a Python task too).
        var free = new DriveInfo(_fixture.WorkRoot).AvailableFreeSpace;
        Assert.True(free > (NodeFixture.DiskMiB - 2) * 1024L * 1024, $"only {free} bytes free after the run");
        var after = HiveTestBus.NewId("disk-after");
        await Bus.PublishTaskAsync(new { taskId = after, script = "sample", args = new { steps = 1 } });
        Assert.Equal(TaskState.Succeeded, (await AssertOneFinalEndAsync(Bus, after, TimeSpan.FromSeconds(30))).Status.State);
        Assert.True(_fixture.Node.IsRunning);
    }
}
