using System.Diagnostics;
using System.Text.Json;
using Hive.Actors.Processes;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Processes;

public sealed class ScriptProcessSpecs : IDisposable
{
    private static readonly ScriptRunOptions Fast = ScriptRunOptions.Default with
    {
        NotifyInterval = TimeSpan.FromMilliseconds(20),
        StopGracePeriod = TimeSpan.FromSeconds(2),
    };

    private readonly TempTasks _dir = new();
    private readonly ScriptCatalog _repo = new(ScriptCatalogSettings.Create(RepoPaths.Tasks));
    private readonly ITestOutputHelper _output;

    public ScriptProcessSpecs(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    private async Task<(ScriptExit Exit, RecordingObserver Observer)> RunToEnd(ScriptLaunch launch, ScriptRunOptions? options = null)
    {
        var observer = new RecordingObserver();
        await using var run = ScriptProcess.Start(launch, options ?? Fast, observer);
        var exit = await run.Completion.WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
        return (exit, observer);
    }

    [Fact]
    public async Task The_script_gets_the_request_as_argv1_the_task_env_and_a_private_working_directory_removed_afterwards()
    {
        _dir.Write("probe.py", """
            import json, os, stat, sys
            import hive
            cwd = os.getcwd()
            hive.result({
                "argc": len(sys.argv), "argv1": json.loads(sys.argv[1]),
                "taskId": os.environ.get("HIVE_TASK_ID"), "attempt": os.environ.get("HIVE_ATTEMPT"),
                "helperTaskId": hive.task_id(), "helperArgs": hive.args(), "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
                "cwd": cwd, "workDir": os.environ.get("HIVE_WORK_DIR"), "mode": oct(stat.S_IMODE(os.stat(cwd).st_mode)),
                "empty": os.listdir(cwd) == [], "pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0)})
            """);
        File.Copy(Path.Combine(RepoPaths.Tasks, "hive.py"), Path.Combine(_dir.Tasks, "hive.py"));
        var launch = Run.Launch(_dir.Catalog(), "probe", """{"input": "a.mp4", "n": [1, 2]}""", _dir.Work, taskId: "t-42", attempt: 2);

        var (exit, _) = await RunToEnd(launch);

        Assert.True(exit.Succeeded, string.Join('\n', exit.Final.Lines));
        using var result = JsonDocument.Parse(exit.Final.ResultJson!);
        var r = result.RootElement;
        Assert.Equal(2, r.GetProperty("argc").GetInt32());
        Assert.Equal("t-42", r.GetProperty("argv1").GetProperty("requestId").GetString());
        Assert.Equal("a.mp4", r.GetProperty("argv1").GetProperty("action").GetProperty("input").GetString());
        Assert.Equal("t-42", r.GetProperty("taskId").GetString());
        Assert.Equal("2", r.GetProperty("attempt").GetString());
        Assert.Equal("t-42", r.GetProperty("helperTaskId").GetString());
        Assert.Equal(2, r.GetProperty("helperArgs").GetProperty("n").GetArrayLength());
        Assert.Equal("1", r.GetProperty("unbuffered").GetString());
        Assert.Equal(launch.WorkingDirectory, r.GetProperty("cwd").GetString());
        Assert.Equal(launch.WorkingDirectory, r.GetProperty("workDir").GetString());
        Assert.StartsWith(_dir.Work + "/t-42-2-", launch.WorkingDirectory);
        Assert.Equal("0o700", r.GetProperty("mode").GetString());
        Assert.True(r.GetProperty("empty").GetBoolean());
        var pid = r.GetProperty("pid").GetInt32();
        Assert.Equal(exit.Pid, pid);
        Assert.Equal(pid, r.GetProperty("pgid").GetInt32());
        Assert.Equal(pid, r.GetProperty("sid").GetInt32());
        Assert.False(Directory.Exists(launch.WorkingDirectory));
        Assert.False(Directory.Exists(Path.Combine(_dir.Tasks, "__pycache__")), "python wrote byte code into tasks/");
    }

    [Fact]
    public async Task The_nodes_own_HIVE_variables_are_not_passed_to_scripts()
    {
        Environment.SetEnvironmentVariable("HIVE_PROCESS_SPEC_SECRET", "s3cret");
        Environment.SetEnvironmentVariable("PROCESS_SPEC_VISIBLE", "yes");
        _dir.Write("env.sh", "echo \"secret=${HIVE_PROCESS_SPEC_SECRET:-unset} visible=${PROCESS_SPEC_VISIBLE:-unset} task=$HIVE_TASK_ID\"");

        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "env", "{}", _dir.Work, taskId: "e1"));

        Assert.Equal(["secret=unset visible=yes task=e1"], exit.Final.Lines);
    }

    [Fact]
    public async Task Node_and_directly_executable_scripts_get_the_request_as_their_first_argument()
    {
        _dir.Write("js.js", "const r = JSON.parse(process.argv[2]); console.log(`js ${r.requestId} ${r.action.n} ${process.argv.length}`);");
        _dir.Write("exe", "#!/bin/sh\necho \"exe $# $1\"", executable: true);
        var catalog = _dir.Catalog();

        var (js, _) = await RunToEnd(Run.Launch(catalog, "js", """{"n": 7}""", _dir.Work, taskId: "j1"));
        var (exe, _) = await RunToEnd(Run.Launch(catalog, "exe", """[1, "two"]""", _dir.Work, taskId: "x1"));

        Assert.Equal(["js j1 7 3"], js.Final.Lines);
        Assert.Equal(["exe 1 {\"requestId\":\"x1\",\"action\":[1,\"two\"]}"], exe.Final.Lines);
    }

    [Fact]
    public async Task A_folder_left_empty_is_recycled_as_a_fresh_private_folder_and_one_left_with_files_is_removed()
    {
        _dir.Write("folder.py", """
            import json, os, stat, sys
            action = json.loads(sys.argv[1])["action"]
            st = os.stat(".")
            print(json.dumps({"inode": st.st_ino, "mode": oct(stat.S_IMODE(st.st_mode)), "empty": os.listdir(".") == []}))
            os.chmod(".", 0o755)
            if action.get("litter"):
                open("left.txt", "w").write("x")
            """);
        var catalog = _dir.Catalog();
        var first = Run.Launch(catalog, "folder", "{}", _dir.Work, taskId: "f1");
        var second = Run.Launch(catalog, "folder", """{"litter": true}""", _dir.Work, taskId: "f2");

        var (one, _) = await RunToEnd(first);
        Assert.False(Directory.Exists(first.WorkingDirectory));
        Assert.Equal(1, RunDirectories.SpareCount(_dir.Work));
        var (two, _) = await RunToEnd(second);

        using var a = JsonDocument.Parse(one.Final.Lines[0]);
        using var b = JsonDocument.Parse(two.Final.Lines[0]);
        Assert.Equal(a.RootElement.GetProperty("inode").GetInt64(), b.RootElement.GetProperty("inode").GetInt64());
        Assert.Equal("0o700", b.RootElement.GetProperty("mode").GetString());
        Assert.True(b.RootElement.GetProperty("empty").GetBoolean());
        Assert.StartsWith(_dir.Work + "/f2-1-", second.WorkingDirectory);
        Assert.False(Directory.Exists(second.WorkingDirectory));
        Assert.Equal(0, RunDirectories.SpareCount(_dir.Work));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_dir.Work), e => !Path.GetFileName(e).StartsWith(".pycache", StringComparison.Ordinal));
    }

    [Fact]
    public void A_node_with_more_guides_than_the_default_keeps_a_spare_folder_for_each_so_a_full_round_creates_none()
    {
        var runs = RunDirectories.DefaultMaxSpares + 44;
        RunDirectories.KeepSparesFor(runs);
        var folders = Enumerable.Range(0, runs).Select(i => Path.Combine(_dir.Work, $"many-1-{i}")).ToArray();
        foreach (var folder in folders) RunDirectories.Create(folder, owner: null);
        foreach (var folder in folders) RunDirectories.Remove(folder, mayReuse: true);
        Assert.Equal(runs, RunDirectories.SpareCount(_dir.Work));

        foreach (var folder in folders) RunDirectories.Create(folder, owner: null);
        Assert.Equal(0, RunDirectories.SpareCount(_dir.Work));
        Assert.All(folders, folder => Assert.Empty(Directory.EnumerateFileSystemEntries(folder)));

        RunDirectories.KeepSparesFor(10); // a smaller node in the same process never lowers it
        Assert.True(RunDirectories.MaxSpares >= runs);
    }

    [Fact]
    public void An_empty_folder_that_a_surviving_process_may_still_use_is_removed_not_recycled()
    {
        var kept = Path.Combine(_dir.Work, "kept-1-a");
        var doubtful = Path.Combine(_dir.Work, "doubtful-1-b");
        RunDirectories.Create(kept, owner: null);
        RunDirectories.Create(doubtful, owner: null);

        RunDirectories.Remove(doubtful, mayReuse: false);
        Assert.False(Directory.Exists(doubtful));
        Assert.Equal(0, RunDirectories.SpareCount(_dir.Work));

        RunDirectories.Remove(kept, mayReuse: true);
        Assert.False(Directory.Exists(kept));
        Assert.Equal(1, RunDirectories.SpareCount(_dir.Work));
    }

    [Fact]
    public async Task The_working_directory_is_kept_when_asked()
    {
        var launch = Run.Launch(_repo, "trivial", "{}", _dir.Work);

        var (exit, _) = await RunToEnd(launch, Fast with { KeepWorkingDirectory = true });

        Assert.True(exit.Succeeded);
        Assert.True(Directory.Exists(launch.WorkingDirectory));
    }

    [Fact]
    public async Task Hive_lines_set_progress_stage_and_result_and_malformed_ones_stay_plain_output()
    {
        _dir.Write("report.sh", """
            echo "first"
            echo '##hive {"progress": 12.5, "stage": "download"}'
            echo '##hive {"progress": "lots"}'
            echo '##hive not json'
            echo '##hive {"unknown": 1}'
            echo '##hivemind {"progress": 99}'
            echo '##hive {"progress": 250}'
            echo '##hive {"result": {"frames": 1200, "files": ["a", "b"]}}'
            echo '##hive {"log": "##hive literal"}'
            echo '##hive {"stage": "encode"}'
            printf 'crlf line\r\n'
            printf 'no newline at end'
            """);
        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "report", "{}", _dir.Work));

        Assert.True(exit.Succeeded);
        Assert.Equal(100, exit.Final.Progress);
        Assert.Equal("encode", exit.Final.Stage);
        using var result = JsonDocument.Parse(exit.Final.ResultJson!);
        Assert.Equal(1200, result.RootElement.GetProperty("frames").GetInt32());
        Assert.Equal(
            [
                "first", "##hive {\"progress\": \"lots\"}", "##hive not json", "##hive {\"unknown\": 1}",
                "##hivemind {\"progress\": 99}", "##hive literal", "crlf line", "no newline at end",
            ],
            exit.Final.Lines);
        Assert.Equal(8, exit.Final.TotalLines);
    }

    [Fact]
    public async Task Only_the_last_N_lines_are_kept_but_all_are_counted()
    {
        _dir.Write("count.sh", "for i in $(seq 1 500); do echo \"err $i\" >&2; done\nsleep 0.1\nfor i in $(seq 1 1000); do echo \"line $i\"; done");

        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "count", "{}", _dir.Work), Fast with { ProgressLength = 5 });

        Assert.Equal(1500, exit.Final.TotalLines);
        Assert.Equal(["line 996", "line 997", "line 998", "line 999", "line 1000"], exit.Final.Lines);
        Assert.Equal(["line 999", "line 1000"], exit.TailLines(2));
    }

    [Fact]
    public async Task Two_hundred_thousand_lines_are_all_counted_while_only_the_last_lines_are_kept()
    {
        _dir.Write("flood.py", """
            import sys
            out = sys.stdout
            for i in range(200000):
                out.write(f"line {i} " + "x" * 40 + "\n")
                if i % 1000 == 0:
                    out.write('##hive {"progress": %.1f}\n' % (i / 2000))
            """);
        // Baseline on this (shared, possibly busy) machine: the same script writing into /dev/null.
        var baseline = Stopwatch.StartNew();
        using (var direct = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"python3 -u '{Path.Combine(_dir.Tasks, "flood.py")}' > /dev/null"]))!)
            await direct.WaitForExitAsync(TestContext.Current.CancellationToken);
        baseline.Stop();
        var observer = new RecordingObserver();
        var sw = Stopwatch.StartNew();
        await using var run = ScriptProcess.Start(Run.Launch(_dir.Catalog(), "flood", "{}", _dir.Work), Fast, observer);
        var exit = await run.Completion.WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
        sw.Stop();

        Assert.True(exit.Succeeded);
        Assert.Equal(200000, exit.Final.TotalLines);
        Assert.Equal(20, exit.Final.Lines.Count);
        Assert.StartsWith("line 199999 ", exit.Final.Lines[^1]);
        Assert.Equal(99.5, exit.Final.Progress);
        Assert.True(exit.Final.BytesRead > 200000 * 40);
        Assert.All(observer.Snapshots, s => Assert.True(s.Lines.Count <= 20));
        _output.WriteLine($"200k lines ({exit.Final.BytesRead / 1024} KiB) in {sw.ElapsedMilliseconds} ms ({baseline.ElapsedMilliseconds} ms into /dev/null), {observer.Snapshots.Count} snapshots");
    }

    [Fact]
    public async Task Invalid_utf8_and_binary_output_become_replacement_characters()
    {
        _dir.Write("binary.sh", """printf 'ok \xff\xfe bad\n\x00\x01\x02\nh\xc3\xa9llo\n'""");

        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "binary", "{}", _dir.Work));

        Assert.True(exit.Succeeded);
        Assert.Equal(["ok \uFFFD\uFFFD bad", "\0\u0001\u0002", "héllo"], exit.Final.Lines);
    }

    [Fact]
    public async Task Lines_longer_than_the_limit_are_cut()
    {
        _dir.Write("long.py", "import sys\nsys.stdout.write('a' * 300000 + '\\n' + 'b' * 100 + '\\n')");

        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "long", "{}", _dir.Work), Fast with { MaxLineLength = 1000 });

        Assert.Equal(2, exit.Final.TotalLines);
        Assert.Equal(new string('a', 1000) + "…", exit.Final.Lines[0]);
        Assert.Equal(new string('b', 100), exit.Final.Lines[1]);
    }

    [Fact]
    public async Task Beyond_the_output_limit_lines_are_drained_and_counted_but_no_longer_kept()
    {
        _dir.Write("chatty.sh", """
            for i in $(seq 1 20); do echo "early $i"; done
            head -c 300000 /dev/zero | tr '\0' 'z' | fold -w 100; echo
            echo '##hive {"progress": 70}'
            echo "late"
            """);

        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "chatty", "{}", _dir.Work), Fast with { MaxOutputBytes = 1000 });

        Assert.True(exit.Succeeded);
        Assert.True(exit.Final.OutputLimitExceeded);
        Assert.DoesNotContain("late", exit.Final.Lines);
        Assert.Equal(70, exit.Final.Progress);
        Assert.Equal(20 + 3000 + 1, exit.Final.TotalLines);
    }

    [Fact]
    public async Task A_memory_limit_makes_allocations_beyond_it_fail_inside_the_script_and_leaves_smaller_ones_alone()
    {
        _dir.Write("hungry.py", """
            import json, sys
            mib = json.loads(sys.argv[1])["action"]["mib"]
            try:
                block = bytearray(mib * 1024 * 1024)
                print(f"allocated {len(block) // (1024 * 1024)} MiB")
            except MemoryError:
                print("MemoryError")
                sys.exit(7)
            """);
        var limited = Fast with { MemoryLimitBytes = 128L * 1024 * 1024 };

        var (refused, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "hungry", """{"mib": 512}""", _dir.Work), limited);
        var (allowed, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "hungry", """{"mib": 16}""", _dir.Work), limited);
        var (unlimited, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "hungry", """{"mib": 512}""", _dir.Work), Fast);

        Assert.True(refused.ExitCode == 7, string.Join("\n", refused.Final.Lines));
        Assert.Contains("MemoryError", refused.Final.Lines);
        Assert.True(allowed.Succeeded, string.Join("\n", allowed.Final.Lines));
        Assert.Contains("allocated 16 MiB", allowed.Final.Lines);
        Assert.True(unlimited.Succeeded, string.Join("\n", unlimited.Final.Lines));
        Assert.Contains("allocated 512 MiB", unlimited.Final.Lines);
    }

    [Fact]
    public async Task Exit_codes_are_reported_and_stderr_is_captured()
    {
        var (failed, _) = await RunToEnd(Run.Launch(_repo, "fail", "{}", _dir.Work));
        var (ok, _) = await RunToEnd(Run.Launch(_repo, "trivial", "{}", _dir.Work));

        Assert.Equal(3, failed.ExitCode);
        Assert.Null(failed.Signal);
        Assert.False(failed.Succeeded);
        Assert.Contains("fail.sh: something went wrong", failed.Final.Lines);
        Assert.Equal(0, ok.ExitCode);
        Assert.True(ok.Succeeded);
        Assert.Equal(ScriptStopReason.None, ok.StopReason);
    }

    [Fact]
    public void A_missing_program_is_refused_at_start_with_the_reason()
    {
        var launch = new ScriptLaunch(Path.Combine(_dir.Root, "no-such-program"), [], _dir.Root);

        var error = Assert.Throws<ScriptStartException>(() => ScriptProcess.Start(launch, Fast, new RecordingObserver()));

        Assert.Contains("No such file", error.Message);
    }

    [Fact]
    public void A_file_that_is_not_executable_is_refused_at_start_and_its_working_directory_removed()
    {
        var file = Path.Combine(_dir.Root, "not-executable");
        File.WriteAllText(file, "#!/bin/sh\nexit 0\n");
        var launch = ScriptLaunch.ForCommand("true", "t-x", 1, _dir.Work) is var template
            ? new ScriptLaunch(file, [], template.WorkingDirectory) { OwnsWorkingDirectory = true }
            : throw new InvalidOperationException();

        var error = Assert.Throws<ScriptStartException>(() => ScriptProcess.Start(launch, Fast, new RecordingObserver()));

        Assert.Contains("Permission denied", error.Message);
        Assert.False(Directory.Exists(launch.WorkingDirectory));
    }

    [Fact]
    public async Task The_script_leads_its_own_session_with_default_signal_dispositions_and_an_empty_mask()
    {
        var launch = ScriptLaunch.ForCommand("cut -d' ' -f1,5,6 /proc/$$/stat; exec grep -E '^Sig(Ign|Blk)' /proc/self/status", "t-sig", 1, _dir.Work);

        var (exit, _) = await RunToEnd(launch);

        var seen = $"exit {exit.ExitCode}, lines: {string.Join(" | ", exit.Final.Lines)}";
        Assert.True(exit.Succeeded, seen);
        Assert.Equal(3, exit.Final.Lines.Count);
        var status = exit.Final.Lines.ToDictionary(l => l.Split(':')[0], l => l.Split(':').ElementAtOrDefault(1)?.Trim() ?? "");
        // Signals 1–31 (SIGPIPE above all: the node ignores it) are neither ignored nor blocked. glibc's posix_spawn leaves its
        // two internal real-time signals (32, 33) ignored; programs that use real-time signals start at SIGRTMIN (34).
        const ulong standard = 0x7FFF_FFFF;
        Assert.True((ulong.Parse(status["SigIgn"], System.Globalization.NumberStyles.HexNumber) & standard) == 0, seen);
        Assert.True((ulong.Parse(status["SigBlk"], System.Globalization.NumberStyles.HexNumber) & standard) == 0, seen);
        var ids = exit.Final.Lines.First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(ids.Length == 3 && ids.All(id => id == exit.Pid.ToString()), seen);
    }

    [Fact]
    public async Task The_sample_scripts_report_progress_and_a_result()
    {
        var (py, observer) = await RunToEnd(Run.Launch(_repo, "sample", """{"steps": 4, "delay": 0.02}""", _dir.Work));
        var (sh, _) = await RunToEnd(Run.Launch(_repo, "sample-sh", """{"steps": 3, "delay": 0.01}""", _dir.Work));

        Assert.True(py.Succeeded, string.Join('\n', py.Final.Lines));
        Assert.Equal(100, py.Final.Progress);
        Assert.Equal("work", py.Final.Stage);
        Assert.Contains("step 4/4", py.Final.Lines);
        Assert.Equal("""{"steps":4,"ok":true}""", py.Final.ResultJson);
        Assert.Equal(1, observer.ExitCalls);
        Assert.Equal(0, observer.SnapshotsAfterExit);
        Assert.True(sh.Succeeded, string.Join('\n', sh.Final.Lines));
        Assert.Equal(100, sh.Final.Progress);
        Assert.Equal("""{"steps": 3}""", sh.Final.ResultJson);
    }

    [Fact]
    public async Task Snapshots_are_coalesced_to_the_notify_interval()
    {
        _dir.Write("busy.py", """
            import time
            end = time.time() + 1.0
            i = 0
            while time.time() < end:
                i += 1
                print('##hive {"progress": %d}' % (i % 100), flush=True)
            """);
        var options = Fast with { NotifyInterval = TimeSpan.FromMilliseconds(100) };

        var (exit, observer) = await RunToEnd(Run.Launch(_dir.Catalog(), "busy", "{}", _dir.Work), options);

        Assert.True(exit.Succeeded);
        Assert.InRange(observer.Snapshots.Count, 2, 16);
        var sequences = observer.Snapshots.Select(s => s.Sequence).ToList();
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(1, observer.ExitCalls);
        Assert.Same(exit, await observer.Exit);
    }

    [Fact]
    public async Task Stop_kills_the_script_and_its_grandchild_within_the_grace_period()
    {
        var observer = new RecordingObserver();
        await using var run = ScriptProcess.Start(Run.Launch(_repo, "sleep", """{"seconds": 300}""", _dir.Work), Fast, observer);
        await Run.Until(() => run.Snapshot().Stage?.StartsWith("sleeping:") == true, "sleep.sh to start its grandchild");
        var grandchild = int.Parse(run.Snapshot().Stage!["sleeping:".Length..]);
        Assert.True(Run.IsAlive(grandchild));

        var sw = Stopwatch.StartNew();
        await run.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
        var exit = await run.Completion;

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        Assert.Equal(ScriptStopReason.Stopped, exit.StopReason);
        Assert.False(exit.ForceKilled);
        Assert.Equal(15, exit.Signal);
        Assert.False(Run.IsAlive(run.Pid));
        Assert.False(Run.IsAlive(grandchild));
    }

    [Fact]
    public async Task Grandchildren_that_leave_the_process_group_are_killed_too()
    {
        _dir.Write("escape.sh", """
            setsid sleep 301 &
            echo "own-session $!"
            ( setsid sleep 302 & echo "daemon $!" )
            sleep 300
            """);
        await using var run = ScriptProcess.Start(Run.Launch(_dir.Catalog(), "escape", "{}", _dir.Work), Fast, new RecordingObserver());
        await Run.Until(() => run.Snapshot().Lines.Count == 2, "two escapees");
        var escapees = run.Snapshot().Lines.Select(l => int.Parse(l.Split(' ')[1])).ToList();
        await Run.Until(() => escapees.All(p => ProcessTreeSid(p) == p), "escapees to have their own sessions");

        await run.StopAsync(TimeSpan.FromSeconds(2)).WaitAsync(Run.Patience, TestContext.Current.CancellationToken);

        Assert.All(escapees, p => Assert.False(Run.IsAlive(p), $"pid {p} survived"));
    }

    [Fact]
    public async Task Background_processes_left_behind_by_a_script_that_exited_are_killed()
    {
        _dir.Write("leave.sh", "sleep 300 &\necho \"left $!\"\nexit 0");

        var (exit, _) = await RunToEnd(Run.Launch(_dir.Catalog(), "leave", "{}", _dir.Work));

        Assert.True(exit.Succeeded);
        var left = int.Parse(exit.Final.Lines.Single().Split(' ')[1]);
        Assert.False(Run.IsAlive(left));
    }

    [Fact]
    public async Task A_script_ignoring_sigterm_is_sigkilled_after_the_grace_period()
    {
        _dir.Write("stubborn.sh", "trap '' TERM\necho ready\nwhile true; do sleep 0.05; done");
        await using var run = ScriptProcess.Start(Run.Launch(_dir.Catalog(), "stubborn", "{}", _dir.Work), Fast, new RecordingObserver());
        await Run.Until(() => run.Snapshot().Lines.Contains("ready"), "ready");

        var sw = Stopwatch.StartNew();
        await run.StopAsync(TimeSpan.FromMilliseconds(400)).WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
        var exit = await run.Completion;

        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(380), TimeSpan.FromSeconds(3));
        Assert.True(exit.ForceKilled);
        Assert.Equal(9, exit.Signal);
        Assert.Equal(ScriptStopReason.Stopped, exit.StopReason);
    }

    [Fact]
    public async Task Pause_stops_the_whole_group_and_resume_continues_it()
    {
        _dir.Write("ticker.sh", "sleep 300 &\necho \"child $!\"\ni=0\nwhile true; do i=$((i+1)); echo \"tick $i\"; sleep 0.02; done");
        await using var run = ScriptProcess.Start(Run.Launch(_dir.Catalog(), "ticker", "{}", _dir.Work), Fast, new RecordingObserver());
        await Run.Until(() => run.Snapshot().TotalLines > 5, "ticks");
        var child = int.Parse(run.Snapshot().Lines[0].Split(' ')[1]);

        run.Pause();
        await Run.Until(() => Run.ProcState(run.Pid) == 'T' && Run.ProcState(child) == 'T', "the group to be stopped");
        await Task.Delay(100);
        var frozen = run.Snapshot().TotalLines;
        await Task.Delay(300);

        Assert.Equal(frozen, run.Snapshot().TotalLines);
        Assert.True(run.IsPaused);
        Assert.True(run.Snapshot().Paused);

        run.Resume();
        await Run.Until(() => run.Snapshot().TotalLines > frozen + 3, "ticks after resume");
        Assert.NotEqual('T', Run.ProcState(run.Pid));
        Assert.False(run.Snapshot().Paused);
    }

    [Fact]
    public async Task A_paused_script_can_still_be_stopped()
    {
        await using var run = ScriptProcess.Start(Run.Launch(_repo, "sleep", """{"seconds": 300}""", _dir.Work), Fast, new RecordingObserver());
        await Run.Until(() => run.Snapshot().Stage is not null, "sleep.sh to start");
        run.Pause();
        await Run.Until(() => Run.ProcState(run.Pid) == 'T', "paused");

        await run.StopAsync(TimeSpan.FromSeconds(3)).WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
        var exit = await run.Completion;

        Assert.False(exit.ForceKilled);
        Assert.Equal(15, exit.Signal);
        Assert.False(exit.Final.Paused);
    }

    [Fact]
    public async Task A_stdin_line_is_echoed_by_the_script()
    {
        await using var run = ScriptProcess.Start(Run.Launch(_repo, "echo-stdin", """{"max": 2}""", _dir.Work), Fast, new RecordingObserver());
        await Run.Until(() => run.Snapshot().Lines.Contains("echo-stdin: ready"), "ready");

        await run.WriteStdinLineAsync("""{"x": 1, "text": "héllo"}""", TestContext.Current.CancellationToken);
        await Run.Until(() => run.Snapshot().Lines.Contains("""echo: {"x": 1, "text": "héllo"}"""), "first echo");
        await run.WriteStdinLineAsync("second", TestContext.Current.CancellationToken);
        var exit = await run.Completion.WaitAsync(Run.Patience, TestContext.Current.CancellationToken);

        Assert.True(exit.Succeeded);
        Assert.Contains("echo: second", exit.Final.Lines);
        Assert.Equal("""{"messages":2}""", exit.Final.ResultJson);
        await Assert.ThrowsAsync<InvalidOperationException>(() => run.WriteStdinLineAsync("late", TestContext.Current.CancellationToken));
        await Assert.ThrowsAsync<ArgumentException>(() => run.WriteStdinLineAsync("two\nlines", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_run_past_its_timeout_is_stopped_as_timed_out()
    {
        var sw = Stopwatch.StartNew();
        var (exit, _) = await RunToEnd(
            Run.Launch(_repo, "sleep", """{"seconds": 300}""", _dir.Work),
            Fast with { Timeout = TimeSpan.FromMilliseconds(300), StopGracePeriod = TimeSpan.FromSeconds(2) });

        Assert.Equal(ScriptStopReason.TimedOut, exit.StopReason);
        Assert.False(exit.Succeeded);
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(290), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Disposing_a_running_script_kills_its_tree_at_once()
    {
        var observer = new RecordingObserver();
        var run = ScriptProcess.Start(Run.Launch(_repo, "sleep", """{"seconds": 300}""", _dir.Work), Fast, observer);
        await Run.Until(() => run.Snapshot().Stage is not null, "sleep.sh to start");
        var grandchild = int.Parse(run.Snapshot().Stage!["sleeping:".Length..]);

        await run.DisposeAsync();

        var exit = await observer.Exit.WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
        Assert.Equal(ScriptStopReason.Disposed, exit.StopReason);
        Assert.True(exit.ForceKilled);
        Assert.False(Run.IsAlive(run.Pid));
        Assert.False(Run.IsAlive(grandchild));
    }

    [Fact]
    public async Task A_command_line_runs_through_sh_only_when_built_with_ForCommand()
    {
        var launch = ScriptLaunch.ForCommand("echo \"$HIVE_TASK_ID\" | tr a-z A-Z; exit 4", "legacy-1", 1, _dir.Work);

        var (exit, _) = await RunToEnd(launch);

        Assert.Equal("/bin/sh", launch.FileName);
        Assert.Equal(4, exit.ExitCode);
        Assert.Equal(["LEGACY-1"], exit.Final.Lines);
    }

    private static int? ProcessTreeSid(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[3]);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
