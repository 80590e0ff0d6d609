using System.Collections.Immutable;

namespace Hive.Actors.Processes;

/// <summary>How a script file with a given extension is started: the interpreter and the arguments before the script path.</summary>
public sealed record ScriptInterpreter(string Program, ImmutableArray<string> Arguments)
{
    public override string ToString() => Arguments.IsDefaultOrEmpty ? Program : $"{Program} {string.Join(' ', Arguments)}";
}

/// <summary>Immutable settings of a <see cref="ScriptCatalog"/>.</summary>
public sealed record ScriptCatalogSettings
{
    /// <summary>The helper module shipped in <c>tasks/</c> for Python scripts; never resolvable as a task.</summary>
    public static readonly ImmutableHashSet<string> DefaultReservedNames = ImmutableHashSet.Create(StringComparer.Ordinal, "hive");

    /// <summary>Default interpreters: <c>.py</c> → <c>python3 -u</c>, <c>.sh</c> → <c>bash</c>, <c>.js</c> → <c>node</c>.</summary>
    public static readonly ImmutableDictionary<string, ScriptInterpreter> DefaultInterpreters =
        ImmutableDictionary.CreateRange(StringComparer.Ordinal, new[]
        {
            KeyValuePair.Create(".py", new ScriptInterpreter("python3", ["-u"])),
            KeyValuePair.Create(".sh", new ScriptInterpreter("bash", [])),
            KeyValuePair.Create(".js", new ScriptInterpreter("node", [])),
        });

    private ScriptCatalogSettings(string tasksDirectory) => TasksDirectory = tasksDirectory;

    /// <summary>The absolute path of the <c>tasks/</c> folder.</summary>
    public string TasksDirectory { get; private init; }

    /// <summary>Interpreter per file extension (with the dot). Files with no listed extension run directly when executable.</summary>
    public ImmutableDictionary<string, ScriptInterpreter> Interpreters { get; private init; } = DefaultInterpreters;

    /// <summary>Names that never resolve (helper modules living beside the scripts).</summary>
    public ImmutableHashSet<string> ReservedNames { get; private init; } = DefaultReservedNames;

    public static ScriptCatalogSettings Create(string tasksDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tasksDirectory);
        return new ScriptCatalogSettings(Path.GetFullPath(tasksDirectory));
    }

    public ScriptCatalogSettings WithTasksDirectory(string tasksDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tasksDirectory);
        return this with { TasksDirectory = Path.GetFullPath(tasksDirectory) };
    }

    /// <summary>Sets (or replaces) the interpreter of an extension such as <c>.rb</c>.</summary>
    public ScriptCatalogSettings WithInterpreter(string extension, string program, params string[] arguments)
    {
        if (string.IsNullOrEmpty(extension) || extension[0] != '.' || extension.Length < 2 || extension.IndexOfAny(['/', '.'], 1) >= 0)
            throw new ArgumentException($"an extension looks like '.py', got '{extension}'", nameof(extension));
        if (extension == ScriptCatalog.ManifestExtension)
            throw new ArgumentException($"'{ScriptCatalog.ManifestExtension}' is reserved for manifests", nameof(extension));
        ArgumentException.ThrowIfNullOrWhiteSpace(program);
        return this with { Interpreters = Interpreters.SetItem(extension, new ScriptInterpreter(program, [.. arguments])) };
    }

    public ScriptCatalogSettings WithReservedNames(IEnumerable<string> names) =>
        this with { ReservedNames = ImmutableHashSet.CreateRange(StringComparer.Ordinal, names) };
}
