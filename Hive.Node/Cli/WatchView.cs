using Hive.Actors.Contracts;
using Spectre.Console;

namespace Hive.Node.Cli;

/// <summary>`hive watch [ID]`: live progress bars for one task, or for every running and paused task.</summary>
public static class WatchView
{
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(250);

    /// <summary>Follows the tasks until Ctrl-C, or until the one watched task ends (then true when it succeeded).</summary>
    public static async Task<bool> RunAsync(HiveCli cli, string? taskId, CancellationToken ct)
    {
        // Progress bars need a terminal; into a pipe or a file, print one line per change instead.
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return taskId is null ? await PlainAllAsync(cli, ct) : await cli.WatchAsync(taskId, Console.Out, ct);

        var succeeded = false;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var bars = new Dictionary<string, ProgressTask>();
                while (!ct.IsCancellationRequested)
                {
                    var docs = await SnapshotAsync(cli, taskId);
                    foreach (var doc in docs)
                    {
                        if (!bars.TryGetValue(doc.TaskId, out var bar))
                            bars[doc.TaskId] = bar = ctx.AddTask(doc.TaskId, maxValue: 100);
                        bar.Description = Describe(doc);
                        if (doc.Progress is { } p) bar.Value = p;
                        if (doc.State.IsFinal())
                        {
                            if (doc.State == TaskState.Succeeded) bar.Value = 100;
                            bar.StopTask();
                        }
                    }
                    if (taskId is not null && docs.FirstOrDefault() is { } only && only.State.IsFinal())
                    {
                        succeeded = only.State == TaskState.Succeeded;
                        return;
                    }
                    try { await Task.Delay(Refresh, ct); }
                    catch (OperationCanceledException) { return; }
                }
            });
        return succeeded;
    }

    private static async Task<bool> PlainAllAsync(HiveCli cli, CancellationToken ct)
    {
        var seen = new Dictionary<string, DateTimeOffset>();
        while (!ct.IsCancellationRequested)
        {
            foreach (var doc in await SnapshotAsync(cli, null))
            {
                if (seen.TryGetValue(doc.TaskId, out var at) && at == doc.UpdatedAt) continue;
                seen[doc.TaskId] = doc.UpdatedAt;
                var progress = doc.Progress is { } p ? $"{p,5:0.0}%" : "   -  ";
                await Console.Out.WriteLineAsync($"{doc.TaskId} {doc.Script ?? "-"} {doc.State.ToWire()} {progress} {doc.Stage ?? ""} {(doc.Lines.Count > 0 ? doc.Lines[^1] : "")}");
            }
            try { await Task.Delay(Refresh, ct); }
            catch (OperationCanceledException) { break; }
        }
        return true;
    }

    private static async Task<IReadOnlyList<TaskStatusDocument>> SnapshotAsync(HiveCli cli, string? taskId)
    {
        if (taskId is not null)
            return await cli.StatusJsonAsync(taskId) is { } json && TaskStatusJson.FromJson(json) is { } doc ? [doc] : [];
        var running = await cli.TasksAsync("running", null, 200);
        var paused = await cli.TasksAsync("paused", null, 200);
        return running.Concat(paused).OrderBy(d => d.StartedAt).ToArray();
    }

    private static string Describe(TaskStatusDocument doc)
    {
        var line = doc.Lines.Count > 0 ? doc.Lines[^1] : "";
        if (line.Length > 40) line = line[..40] + "…";
        var state = doc.State switch
        {
            TaskState.Succeeded => "[green]succeeded[/]",
            TaskState.Failed or TaskState.Dead or TaskState.TimedOut or TaskState.Rejected => $"[red]{doc.State.ToWire()}[/]",
            TaskState.Paused or TaskState.Stopped => $"[yellow]{doc.State.ToWire()}[/]",
            _ => doc.State.ToWire(),
        };
        return $"{Markup.Escape(Short(doc.TaskId))} {Markup.Escape(doc.Script ?? "-")} {state} {Markup.Escape(doc.Stage ?? "")} [grey]{Markup.Escape(line)}[/]";
    }

    private static string Short(string id) => id.Length > 14 ? id[..14] : id;
}
