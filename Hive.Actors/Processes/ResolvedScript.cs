using System.Diagnostics.CodeAnalysis;

namespace Hive.Actors.Processes;

/// <summary>A script of the catalogue, ready to launch.</summary>
/// <param name="Name">The script name used in task messages (file name without extension).</param>
/// <param name="Path">The script's canonical path (symlinks resolved, inside the tasks folder).</param>
/// <param name="Interpreter">The interpreter that runs it, or null when the file is executed directly.</param>
/// <param name="Manifest">The parsed <c>&lt;name&gt;.json</c> manifest, or null when there is none.</param>
/// <param name="ContentHash">Lower-case hex SHA-256 of the script; with a manifest, SHA-256 of (script hash ‖ manifest bytes), so editing limits changes it too.</param>
public sealed record ResolvedScript(
    string Name,
    string Path,
    ScriptInterpreter? Interpreter,
    ScriptManifest? Manifest,
    string ContentHash)
{
    /// <summary>The program to start: the interpreter, or the script itself.</summary>
    public string Program => Interpreter?.Program ?? Path;

    /// <summary>The arguments before the task's argv[1]: interpreter arguments and the script path, or nothing.</summary>
    public IReadOnlyList<string> ArgumentsPrefix =>
        Interpreter is null ? [] : [.. Interpreter.Arguments, Path];
}

/// <summary>The outcome of <see cref="ScriptCatalog.Resolve"/>: a script, or the reason there is none.</summary>
public sealed record ScriptResolution
{
    private ScriptResolution(ResolvedScript? script, string? error)
    {
        Script = script;
        Error = error;
    }

    public ResolvedScript? Script { get; }

    /// <summary>Why the name does not resolve, phrased for the task's submitter.</summary>
    public string? Error { get; }

    [MemberNotNullWhen(true, nameof(Script))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsResolved => Script is not null;

    public static ScriptResolution Resolved(ResolvedScript script) => new(script ?? throw new ArgumentNullException(nameof(script)), null);

    public static ScriptResolution Failed(string error) => new(null, error ?? throw new ArgumentNullException(nameof(error)));

    public bool TryGetScript([NotNullWhen(true)] out ResolvedScript? script, [NotNullWhen(false)] out string? error)
    {
        script = Script;
        error = Error;
        return IsResolved;
    }

    public override string ToString() => IsResolved ? $"Resolved({Script.Name})" : $"Failed({Error})";
}
