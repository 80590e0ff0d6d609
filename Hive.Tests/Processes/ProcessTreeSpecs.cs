using Hive.Actors.Processes;
using Xunit;

namespace Hive.Tests.Processes;

/// <summary>
/// The subreaper walk (the node's normal way to find a run's processes) and the full /proc scan (the fallback when the
/// kernel refuses PR_SET_CHILD_SUBREAPER) must find the same processes, including escapees that left the session.
/// </summary>
public sealed class ProcessTreeSpecs : IDisposable
{
    private static readonly ScriptRunOptions Fast = ScriptRunOptions.Default with { NotifyInterval = TimeSpan.FromMilliseconds(20) };
    private readonly TempTasks _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_subreaper_walk_and_the_full_scan_find_the_same_processes_of_a_run()
    {
        Assert.True(ProcessTree.EnsureSubreaper(), "this kernel refuses PR_SET_CHILD_SUBREAPER or has no /proc/<pid>/task/<tid>/children");
        _dir.Write("spread.sh", """
            sleep 300 &
            echo "child $!"
            ( setsid sleep 301 & echo "daemon $!" )
            sh -c 'sleep 302 & echo "grandchild $!"; wait'
            """);
        await using var run = ScriptProcess.Start(Run.Launch(_dir.Catalog(), "spread", "{}", _dir.Work), Fast, new RecordingObserver());
        await Run.Until(() => run.Snapshot().Lines.Count == 3, "three background processes");
        var started = run.Snapshot().Lines.Select(l => int.Parse(l.Split(' ')[1])).ToList();
        // The daemon's parent (a subshell) exited: it is now an orphan, re-parented to this process, in a session of its own.
        await Run.Until(() => ProcessTree.Read(started[1]) is { } d && d.ParentPid == Environment.ProcessId && d.Session == d.Pid, "the daemon to be re-parented here");

        var walked = ProcessTree.WalkRun(run.Pid, run.RunId).Select(p => p.Pid).Order().ToList();
        var scanned = ProcessTree.ScanRun(run.Pid, run.RunId, null).Select(p => p.Pid).Order().ToList();

        Assert.Equal(scanned, walked);
        Assert.Contains(run.Pid, walked);
        Assert.All(started, pid => Assert.Contains(pid, walked));
        Assert.DoesNotContain(Environment.ProcessId, walked);
    }

    [Fact]
    public async Task A_daemon_that_ended_on_its_own_does_not_stay_a_zombie_of_the_node()
    {
        ProcessTree.EnsureSubreaper();
        _dir.Write("brief.sh", """
            ( setsid sh -c 'exit 0' & echo "daemon $!" )
            sleep 0.2
            """);

        var observer = new RecordingObserver();
        int daemon;
        await using (var run = ScriptProcess.Start(Run.Launch(_dir.Catalog(), "brief", "{}", _dir.Work), Fast, observer))
        {
            var exit = await run.Completion.WaitAsync(Run.Patience, TestContext.Current.CancellationToken);
            daemon = int.Parse(exit.Final.Lines.Single().Split(' ')[1]);
        }

        // Nobody can tell whose it was once it is a zombie; later walks reap it once it has lingered for two seconds.
        await Run.Until(() =>
        {
            ProcessTree.WalkRun(int.MaxValue, "none");
            return Run.ProcState(daemon) is null;
        }, "the daemon's zombie to be reaped");
    }
}
