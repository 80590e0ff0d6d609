using System.Collections.Immutable;
using System.Text;
using System.Text.Json;

namespace Hive.Actors.Processes;

/// <summary>
/// What to start: a program, its argument list (never joined into a command line), environment overrides and a
/// working directory. Build it with <see cref="ForScript"/> (the normal path, no shell) or, for the seed's legacy
/// <c>target.command</c>, with <see cref="ForCommand"/> — the single place in Hive where a shell runs.
/// </summary>
public sealed record ScriptLaunch
{
    /// <summary>Environment variable carrying the task id.</summary>
    public const string TaskIdVariable = "HIVE_TASK_ID";

    /// <summary>Environment variable carrying the attempt number (1-based).</summary>
    public const string AttemptVariable = "HIVE_ATTEMPT";

    /// <summary>Environment variable carrying the per-run working directory.</summary>
    public const string WorkDirectoryVariable = "HIVE_WORK_DIR";

    /// <summary>Environment variable carrying the tasks folder (where <c>hive.py</c> lives).</summary>
    public const string TasksDirectoryVariable = "HIVE_TASKS_DIR";

    public ScriptLaunch(string fileName, IEnumerable<string> arguments, string workingDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        ArgumentException.ThrowIfNullOrWhiteSpace(workingDirectory);
        FileName = fileName;
        Arguments = [.. arguments ?? throw new ArgumentNullException(nameof(arguments))];
        WorkingDirectory = Path.GetFullPath(workingDirectory);
    }

    /// <summary>The program (a path, or a name looked up in PATH).</summary>
    public string FileName { get; }

    /// <summary>The arguments, each passed as one argv entry.</summary>
    public ImmutableArray<string> Arguments { get; }

    /// <summary>Variables set on top of the node's environment; a null value removes the variable.</summary>
    public ImmutableDictionary<string, string?> Environment { get; init; } = ImmutableDictionary<string, string?>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>The child's working directory.</summary>
    public string WorkingDirectory { get; }

    /// <summary>
    /// When true, <see cref="ScriptProcess.Start"/> creates <see cref="WorkingDirectory"/> (mode 0700; it must not
    /// exist) and removes it after the run unless <see cref="ScriptRunOptions.KeepWorkingDirectory"/> is set.
    /// </summary>
    public bool OwnsWorkingDirectory { get; init; }

    /// <summary>A short label for logs (script name or "command"); never contains args.</summary>
    public string Label { get; init; } = "process";

    public ScriptLaunch WithEnvironment(string name, string? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('=') || name.Contains('\0')) throw new ArgumentException($"invalid environment variable name '{name}'", nameof(name));
        return this with { Environment = Environment.SetItem(name, value) };
    }

    /// <summary>
    /// The launch of a catalogue script for one attempt of a task: argv[1] is
    /// <c>{"requestId": taskId, "action": args}</c>; the environment gets <c>HIVE_TASK_ID</c>, <c>HIVE_ATTEMPT</c>,
    /// <c>HIVE_WORK_DIR</c>, <c>HIVE_TASKS_DIR</c>, <c>PYTHONPATH</c> (tasks folder first), <c>PYTHONUNBUFFERED=1</c> and
    /// <c>PYTHONPYCACHEPREFIX</c> (under the work root, so nothing is written into tasks/);
    /// the working directory is a fresh folder under <paramref name="workRoot"/> owned by the run.
    /// </summary>
    public static ScriptLaunch ForScript(ResolvedScript script, string taskId, int attempt, JsonElement args, string workRoot)
    {
        ArgumentNullException.ThrowIfNull(script);
        var argv1 = RequestJson(taskId, args);
        var tasksDir = Path.GetDirectoryName(script.Path)!;
        return ForRun(script.Program, [.. script.ArgumentsPrefix, argv1], taskId, attempt, workRoot, tasksDir) with { Label = script.Name };
    }

    /// <summary>
    /// The seed's legacy form: <paramref name="commandLine"/> runs as <c>/bin/sh -c commandLine</c>. This is the
    /// ONLY place where Hive hands text to a shell; callers must gate it behind <c>hive.tasks.allow-commands</c>.
    /// The environment and working directory are those of <see cref="ForScript"/>.
    /// </summary>
    public static ScriptLaunch ForCommand(string commandLine, string taskId, int attempt, string workRoot, string? tasksDirectory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(commandLine);
        if (commandLine.Contains('\0')) throw new ArgumentException("the command line contains a NUL character", nameof(commandLine));
        return ForRun("/bin/sh", ["-c", commandLine], taskId, attempt, workRoot, tasksDirectory) with { Label = "command" };
    }

    /// <summary>The argv[1] document: <c>{"requestId": taskId, "action": args}</c> (the seed's template reads exactly this).</summary>
    public static string RequestJson(string taskId, JsonElement args)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("requestId", taskId);
            writer.WritePropertyName("action");
            if (args.ValueKind == JsonValueKind.Undefined) writer.WriteNullValue();
            else args.WriteTo(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>A fresh, unique folder name under <paramref name="workRoot"/> for one run of a task (not created).</summary>
    public static string NewWorkingDirectory(string workRoot, string taskId, int attempt)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workRoot);
        var safe = new StringBuilder(Math.Min(taskId.Length, 64));
        foreach (var c in taskId.AsSpan(0, Math.Min(taskId.Length, 64)))
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        if (safe.Length == 0 || safe[0] == '.') safe.Insert(0, 't');
        return Path.Combine(Path.GetFullPath(workRoot), $"{safe}-{attempt}-{Guid.NewGuid().ToString("N")[..12]}");
    }

    private static ScriptLaunch ForRun(string program, string[] arguments, string taskId, int attempt, string workRoot, string? tasksDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var workDir = NewWorkingDirectory(workRoot, taskId, attempt);
        var env = ImmutableDictionary.CreateBuilder<string, string?>(StringComparer.Ordinal);
        env[TaskIdVariable] = taskId;
        env[AttemptVariable] = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
        env[WorkDirectoryVariable] = workDir;
        env["PYTHONUNBUFFERED"] = "1";
        // Byte-code caches go under the work root, never into tasks/ (which may be read-only or shared).
        env["PYTHONPYCACHEPREFIX"] = Path.Combine(Path.GetFullPath(workRoot), ".pycache");
        if (tasksDir is not null)
        {
            env[TasksDirectoryVariable] = tasksDir;
            var inherited = System.Environment.GetEnvironmentVariable("PYTHONPATH");
            env["PYTHONPATH"] = string.IsNullOrEmpty(inherited) ? tasksDir : tasksDir + Path.PathSeparator + inherited;
        }

        return new ScriptLaunch(program, arguments, workDir) { Environment = env.ToImmutable(), OwnsWorkingDirectory = true };
    }
}
