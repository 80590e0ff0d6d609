using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Hive.Actors.Processes;

/// <summary>
/// The scripts of one <c>tasks/</c> folder. A name resolves to exactly one file: <c>name.py</c>, <c>name.sh</c>,
/// <c>name.js</c> (or another configured extension), or an executable <c>name</c>. The name is checked before the
/// file system is touched, and the file's canonical path (every symlink followed) must stay inside the
/// canonical tasks folder, so neither <c>../x</c> nor a symlink pointing elsewhere can run a file from outside.
/// Thread-safe; the folder is read again whenever the last successful resolution of a name is older than
/// <see cref="ReuseResolutionFor"/> or failed (scripts may be dropped in while the node runs); file hashes are cached
/// by path, size and modification time.
/// </summary>
public sealed partial class ScriptCatalog
{
    /// <summary>The extension of manifests (<c>tasks/&lt;script&gt;.json</c>).</summary>
    public const string ManifestExtension = ".json";

    /// <summary>Largest manifest read (a manifest is configuration, not data).</summary>
    public const int MaxManifestBytes = 256 * 1024;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    private readonly ConcurrentDictionary<string, (long Size, DateTime Modified, byte[] Hash)> _hashes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (long At, ScriptResolution Resolution)> _recent = new(StringComparer.Ordinal);

    /// <summary>
    /// How long a successful resolution is reused. Resolving reads the folder (a dozen stat and readlink calls); a task
    /// is resolved when it arrives and again when its guide starts it, and a burst of tasks of one script would resolve
    /// it thousands of times a second. Failures are never reused, so a script dropped in is seen at once; a script
    /// removed or edited is seen within this time.
    /// </summary>
    public static readonly TimeSpan ReuseResolutionFor = TimeSpan.FromMilliseconds(100);

    public ScriptCatalog(ScriptCatalogSettings settings)
    {
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
    }

    public ScriptCatalogSettings Settings { get; }

    /// <summary>Checks only the shape of a script name (no file system access). Returns the reason it is invalid, or null.</summary>
    public string? ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "the script name is empty";
        var shown = name.Length > 64 ? name[..64] + "…" : name;
        if (name.Contains('/') || name.Contains('\\') || Path.IsPathRooted(name))
            return $"script name '{shown}' is a path; give the name of a file in tasks/ without folders";
        if (name.Contains("..", StringComparison.Ordinal))
            return $"script name '{shown}' must not contain '..'";
        if (!NamePattern().IsMatch(name))
            return $"script name '{shown}' is invalid: use 1-128 characters A-Z a-z 0-9 _ . - starting with a letter or digit";
        if (Settings.ReservedNames.Contains(name))
            return $"'{name}' is a reserved helper module in tasks/, not a script";
        var ext = Path.GetExtension(name);
        if (ext == ManifestExtension || Settings.Interpreters.ContainsKey(ext))
            return $"script name '{name}' has an extension; give the name without '{ext}'";
        return null;
    }

    /// <summary>The parser's view of <see cref="Resolve"/>: the rejection reason, or the script's manifest.</summary>
    public Contracts.ScriptCheck Check(string name)
    {
        var resolution = Resolve(name);
        return resolution.IsResolved ? Contracts.ScriptCheck.Runnable(resolution.Script.Manifest) : Contracts.ScriptCheck.Refused(resolution.Error);
    }

    /// <summary>Resolves a script name to the one file that runs it, or explains why it cannot.</summary>
    public ScriptResolution Resolve(string? name)
    {
        if (ValidateName(name) is { } invalid) return ScriptResolution.Failed(invalid);
        var now = Environment.TickCount64;
        if (_recent.TryGetValue(name!, out var recent) && now - recent.At < ReuseResolutionFor.TotalMilliseconds) return recent.Resolution;
        var resolution = ResolveNow(name!);
        if (resolution.IsResolved) _recent[name!] = (now, resolution);
        else _recent.TryRemove(name!, out _);
        return resolution;
    }

    private ScriptResolution ResolveNow(string? name)
    {

        var tasksReal = Native.RealPath(Settings.TasksDirectory);
        if (tasksReal is null || !Directory.Exists(tasksReal))
            return ScriptResolution.Failed($"the tasks folder '{Settings.TasksDirectory}' does not exist");

        var candidates = new List<(string File, ScriptInterpreter? Interpreter)>(2);
        foreach (var (ext, interpreter) in Settings.Interpreters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var file = Path.Combine(Settings.TasksDirectory, name + ext);
            if (File.Exists(file)) candidates.Add((file, interpreter));
        }

        var bare = Path.Combine(Settings.TasksDirectory, name!);
        if (File.Exists(bare) && IsExecutable(bare)) candidates.Add((bare, null));

        switch (candidates.Count)
        {
            case 0:
                return ScriptResolution.Failed($"unknown script '{name}': no {name}{string.Join($", {name}", Settings.Interpreters.Keys.Order(StringComparer.Ordinal))} or executable {name} in tasks/");
            case > 1:
                return ScriptResolution.Failed($"ambiguous script '{name}': {string.Join(", ", candidates.Select(c => Path.GetFileName(c.File)))} all match; keep one");
        }

        var (candidate, chosen) = candidates[0];
        if (InsideTasks(candidate, tasksReal, out var error) is not { } real) return ScriptResolution.Failed(error!);
        if (chosen is null && !IsExecutable(real))
            return ScriptResolution.Failed($"script '{name}' is not executable");

        ScriptManifest? manifest = null;
        byte[]? manifestBytes = null;
        var manifestPath = Path.Combine(Settings.TasksDirectory, name + ManifestExtension);
        if (File.Exists(manifestPath))
        {
            if (InsideTasks(manifestPath, tasksReal, out error) is not { } manifestReal) return ScriptResolution.Failed(error!);
            try
            {
                var info = new FileInfo(manifestReal);
                if (info.Length > MaxManifestBytes)
                    return ScriptResolution.Failed($"bad manifest tasks/{name}{ManifestExtension}: larger than {MaxManifestBytes} bytes");
                manifestBytes = File.ReadAllBytes(manifestReal);
                manifest = ScriptManifest.Parse(manifestBytes);
            }
            catch (FormatException e)
            {
                return ScriptResolution.Failed($"bad manifest tasks/{name}{ManifestExtension}: {e.Message}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return ScriptResolution.Failed($"cannot read manifest tasks/{name}{ManifestExtension}: {e.Message}");
            }
        }

        string hash;
        try
        {
            hash = ContentHash(real, manifestBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ScriptResolution.Failed($"cannot read script '{name}': {e.Message}");
        }

        return ScriptResolution.Resolved(new ResolvedScript(name!, real, chosen, manifest, hash));
    }

    /// <summary>The catalogue: every script of the tasks folder that resolves, ordered by name.</summary>
    public IReadOnlyList<ResolvedScript> List() =>
        [.. ListAll().Where(r => r.Resolution.IsResolved).Select(r => r.Resolution.Script!)];

    /// <summary>Every candidate name in the tasks folder with its resolution, errors included (for diagnostics).</summary>
    public IReadOnlyList<(string Name, ScriptResolution Resolution)> ListAll()
    {
        if (!Directory.Exists(Settings.TasksDirectory)) return [];
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Settings.TasksDirectory))
        {
            var fileName = Path.GetFileName(file);
            var ext = Path.GetExtension(fileName);
            if (Settings.Interpreters.ContainsKey(ext)) names.Add(fileName[..^ext.Length]);
            else if (ext != ManifestExtension && IsExecutable(file)) names.Add(fileName);
        }

        return [.. names.Where(n => ValidateName(n) is null).Select(n => (n, Resolve(n)))];
    }

    private static string? InsideTasks(string path, string tasksReal, out string? error)
    {
        error = null;
        var real = Native.RealPath(path);
        var shown = Path.GetFileName(path);
        if (real is null)
        {
            error = $"script file '{shown}' cannot be resolved (dangling symlink?)";
            return null;
        }

        if (!real.StartsWith(tasksReal + "/", StringComparison.Ordinal))
        {
            error = $"'{shown}' resolves outside the tasks folder; symlinks may only point inside tasks/";
            return null;
        }

        if (!File.Exists(real))
        {
            error = $"'{shown}' is not a regular file";
            return null;
        }

        return real;
    }

    private static bool IsExecutable(string path)
    {
        if (OperatingSystem.IsWindows()) return false;
        try
        {
            const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            return (File.GetUnixFileMode(path) & anyExecute) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private string ContentHash(string realPath, byte[]? manifestBytes)
    {
        var info = new FileInfo(realPath);
        var (size, modified) = (info.Length, info.LastWriteTimeUtc);
        byte[] scriptHash;
        if (_hashes.TryGetValue(realPath, out var cached) && cached.Size == size && cached.Modified == modified)
        {
            scriptHash = cached.Hash;
        }
        else
        {
            using (var stream = File.OpenRead(realPath)) scriptHash = SHA256.HashData(stream);
            _hashes[realPath] = (size, modified, scriptHash);
        }

        if (manifestBytes is null) return Convert.ToHexStringLower(scriptHash);
        using var incremental = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        incremental.AppendData(scriptHash);
        incremental.AppendData(manifestBytes);
        return Convert.ToHexStringLower(incremental.GetHashAndReset());
    }
}
