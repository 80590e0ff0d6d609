using System.Collections.Concurrent;
using System.Diagnostics;

namespace Hive.Tests.Infrastructure;

/// <summary>Starts a `hive node` process, captures its output into <paramref name="log"/>, and waits until its host reports started.</summary>
public static class NodeLauncher
{
    public static async Task<Process> StartAsync(ProcessStartInfo psi, ConcurrentQueue<string> log, string name, TimeSpan timeout)
    {
        psi.Environment["DOTNET_HOSTBUILDER__RELOADCONFIGONCHANGE"] = "false";
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        DataReceivedEventHandler onLine = (_, e) =>
        {
            if (e.Data is null) return;
            log.Enqueue(e.Data);
            if (e.Data.Contains("Application started", StringComparison.Ordinal)) started.TrySetResult();
        };
        process.OutputDataReceived += onLine;
        process.ErrorDataReceived += onLine;
        process.Exited += (_, _) =>
        {
            // Exited can be raised before the last lines were read; WaitForExit() also waits for both streams to end.
            process.WaitForExit();
            started.TrySetException(new InvalidOperationException($"hive node {name} exited at start:\n{string.Join('\n', log)}"));
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (await Task.WhenAny(started.Task, Task.Delay(timeout)) != started.Task)
            throw new TimeoutException($"hive node {name} did not start in {timeout.TotalSeconds:0} s:\n{string.Join('\n', log)}");
        await started.Task;
        // The task consumer attaches just after the host reports started.
        await Task.Delay(500);
        return process;
    }
}
