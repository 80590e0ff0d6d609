using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Hive.Actors.Processes;
using Xunit;

namespace Hive.Tests.Processes;

/// <summary>Records what a run reports; lets tests wait for a condition on the snapshots.</summary>
internal sealed class RecordingObserver : IScriptObserver
{
    private readonly TaskCompletionSource<ScriptExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _exitCalls;
    private int _snapshotsAfterExit;

    public ConcurrentQueue<ScriptSnapshot> Snapshots { get; } = new();

    public int ExitCalls => Volatile.Read(ref _exitCalls);

    public int SnapshotsAfterExit => Volatile.Read(ref _snapshotsAfterExit);

    public Task<ScriptExit> Exit => _exit.Task;

    public void OnSnapshot(ScriptSnapshot snapshot)
    {
        if (_exit.Task.IsCompleted) Interlocked.Increment(ref _snapshotsAfterExit);
        Snapshots.Enqueue(snapshot);
    }

    public void OnExit(ScriptExit exit)
    {
        Interlocked.Increment(ref _exitCalls);
        _exit.TrySetResult(exit);
    }
}

/// <summary>A throwaway tasks folder and work root for one test.</summary>
internal sealed class TempTasks : IDisposable
{
    public TempTasks()
    {
        Root = Directory.CreateTempSubdirectory("hive-proc-").FullName;
        Tasks = Path.Combine(Root, "tasks");
        Work = Path.Combine(Root, "work");
        Directory.CreateDirectory(Tasks);
    }

    public string Root { get; }
    public string Tasks { get; }
    public string Work { get; }

    public string Write(string fileName, string content, bool executable = false)
    {
        var path = Path.Combine(Tasks, fileName);
        File.WriteAllText(path, content.ReplaceLineEndings("\n"));
        if (executable) File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    public ScriptCatalog Catalog() => new(ScriptCatalogSettings.Create(Tasks));

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

internal static class Run
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    public static ScriptResolution Resolve(this ScriptCatalog catalog, string name, out ResolvedScript script)
    {
        var resolution = catalog.Resolve(name);
        Assert.True(resolution.IsResolved, resolution.Error);
        script = resolution.Script!;
        return resolution;
    }

    public static ScriptLaunch Launch(ScriptCatalog catalog, string name, string argsJson, string workRoot, string taskId = "task-1", int attempt = 1)
    {
        catalog.Resolve(name, out var script);
        using var doc = JsonDocument.Parse(argsJson);
        return ScriptLaunch.ForScript(script, taskId, attempt, doc.RootElement.Clone(), workRoot);
    }

    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > (timeout ?? Patience)) Assert.Fail($"timed out after {sw.Elapsed.TotalSeconds:F1}s waiting for: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>True when the pid is alive and not a zombie.</summary>
    public static bool IsAlive(int pid) => ProcState(pid) is { } s && s != 'Z' && s != 'X';

    /// <summary>The state letter of /proc/&lt;pid&gt;/stat, or null when the process is gone.</summary>
    public static char? ProcState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
