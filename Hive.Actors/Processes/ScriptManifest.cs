using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hive.Actors.Processes;

/// <summary>
/// The optional per-script manifest <c>tasks/&lt;script&gt;.json</c>: defaults and limits of one script.
/// Every field is optional; unknown fields are an error (a misspelt limit must not be silently ignored).
/// </summary>
public sealed record ScriptManifest
{
    /// <summary>Free text shown in the catalogue.</summary>
    public string? Description { get; init; }

    /// <summary>Default run timeout, in seconds, when the task message sets none.</summary>
    public double? TimeoutSeconds { get; init; }

    /// <summary>Default number of attempts (failures and lost nodes count).</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Delay before a retry, in seconds (doubled per attempt by the caller if it wishes).</summary>
    public double? BackoffSeconds { get; init; }

    /// <summary>At most this many concurrent runs of the script on one node.</summary>
    public int? MaxConcurrentPerNode { get; init; }

    /// <summary>At most this many concurrent runs of the script in the cluster.</summary>
    public int? MaxConcurrentPerCluster { get; init; }

    /// <summary>Expected CPU use in cores (admission hint).</summary>
    public double? ExpectedCpu { get; init; }

    /// <summary>Expected memory use in MiB (admission hint).</summary>
    public long? ExpectedMemoryMb { get; init; }

    /// <summary>Memory limit in MiB (enforced by the caller where it can).</summary>
    public long? MemoryLimitMb { get; init; }

    /// <summary>Output allowed per run, in bytes; beyond it lines are no longer retained.</summary>
    public long? MaxOutputBytes { get; init; }

    /// <summary>A JSON schema for the script's args, checked before a task is accepted.</summary>
    public JsonElement? ArgsSchema { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = false,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Parses and validates a manifest; throws <see cref="FormatException"/> with a readable reason.</summary>
    public static ScriptManifest Parse(ReadOnlySpan<byte> utf8Json)
    {
        ScriptManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ScriptManifest>(utf8Json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new FormatException(e.Message, e);
        }

        if (manifest is null) throw new FormatException("the manifest must be a JSON object, not null");
        manifest.Validate();
        return manifest;
    }

    private void Validate()
    {
        static void Positive(string name, double? value)
        {
            if (value is { } v && (!double.IsFinite(v) || v <= 0))
                throw new FormatException($"'{name}' must be a positive number, got {v}");
        }

        static void NotNegative(string name, double? value)
        {
            if (value is { } v && (!double.IsFinite(v) || v < 0))
                throw new FormatException($"'{name}' must be zero or positive, got {v}");
        }

        Positive("timeoutSeconds", TimeoutSeconds);
        Positive("maxAttempts", MaxAttempts);
        NotNegative("backoffSeconds", BackoffSeconds);
        Positive("maxConcurrentPerNode", MaxConcurrentPerNode);
        Positive("maxConcurrentPerCluster", MaxConcurrentPerCluster);
        Positive("expectedCpu", ExpectedCpu);
        Positive("expectedMemoryMb", ExpectedMemoryMb);
        Positive("memoryLimitMb", MemoryLimitMb);
        NotNegative("maxOutputBytes", MaxOutputBytes);
        if (ArgsSchema is { } schema && schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
            throw new FormatException($"'argsSchema' must be a JSON schema (object or boolean), got {schema.ValueKind}");
    }
}
