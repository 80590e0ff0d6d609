using System.Diagnostics;
using System.Globalization;
using System.Text;
using Hive.Actors.Contracts;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Hardening;

/// <summary>What the hardening specs check after every case: one final state, one result, no process left.</summary>
public static class HardeningProbes
{
    /// <summary>
    /// The pids of live processes whose initial environment holds <c>HIVE_TASK_ID=&lt;taskId&gt;</c>: every process a
    /// run of the task started (children, grandchildren, daemons that left the session) unless it scrubbed its
    /// environment. Zombies have no environment and do not count.
    /// </summary>
    public static IReadOnlyList<int> ProcessesOfTask(string taskId)
    {
        var marker = Encoding.UTF8.GetBytes($"HIVE_TASK_ID={taskId}\0");
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            byte[] environ;
            try { environ = File.ReadAllBytes(Path.Combine(dir, "environ")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (environ.AsSpan().IndexOf(marker) >= 0 && ProcessProbe.IsAlive(pid)) found.Add(pid);
        }
        return found;
    }

    /// <summary>Waits until no process of the task is alive; fails naming the survivors and their command lines.</summary>
    public static async Task AssertNoProcessLeftAsync(string taskId, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        IReadOnlyList<int> left;
        while ((left = ProcessesOfTask(taskId)).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(left.Count == 0, $"task {taskId} left processes behind: " + string.Join("; ", left.Select(p => $"{p} {CommandLine(p)}")));
    }

    /// <summary>The task has exactly one final state in Redis and exactly one result on hive.results, and they agree.</summary>
    public static async Task<(TaskStatusDocument Status, TaskResult Result)> AssertOneFinalEndAsync(HiveTestBus bus, string taskId, TimeSpan within)
    {
        var status = await bus.WaitForFinalAsync(taskId, within);
        var result = await bus.WaitForResultAsync(taskId, TimeSpan.FromSeconds(20));
        // A second result would arrive within moments of the first.
        await Task.Delay(500);
        var results = bus.ResultsFor(taskId);
        Assert.True(results.Count == 1, $"task {taskId} has {results.Count} results: " + string.Join(", ", results.Select(r => $"{r.State.ToWire()} ({r.Reason})")));
        Assert.Equal(status.State, result.State);
        Assert.Equal(status.State, (await bus.StatusAsync(taskId))!.State);
        return (status, result);
    }

    public static string CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "(gone)"; }
    }

    /// <summary>Runs a program (no shell) and returns its exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }

    public static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);
}
