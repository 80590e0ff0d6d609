using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Json.Schema;

namespace Hive.Actors.Processes;

/// <summary>
/// The optional per-script manifest <c>tasks/&lt;script&gt;.json</c>: defaults and limits of one script.
/// Every field is optional; unknown fields are an error (a misspelt limit must not be silently ignored).
/// </summary>
/// <remarks>
/// Applied when a task is accepted (the task message wins where it sets the same thing): <see cref="TimeoutSeconds"/>,
/// <see cref="MaxAttempts"/>, <see cref="BackoffSeconds"/>, <see cref="ArgsSchema"/>. Applied to every run on the
/// node that starts it: <see cref="MaxOutputBytes"/>, <see cref="MemoryLimitMb"/>; by each node's monitor:
/// <see cref="MaxConcurrentPerNode"/>, and <see cref="ExpectedCpu"/> / <see cref="ExpectedMemoryMb"/> against the admission
/// limits (<c>Admission/ResourceFit</c>); by slots in Redis that guides take before they claim: <see cref="MaxConcurrentPerCluster"/>.
/// </remarks>
public sealed record ScriptManifest
{
    /// <summary>Free text shown in the catalogue.</summary>
    public string? Description { get; init; }

    /// <summary>Default run timeout in whole seconds (1 .. 7 days) when the task message sets none.</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>Default number of attempts (1 .. 100; failures and lost nodes count) when the task message sets none.</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>
    /// Delay before the first retry, in seconds, instead of <c>hive.tasks.retry-backoff</c>; doubled per attempt up to
    /// the larger of this and <c>hive.tasks.retry-backoff-max</c>. 0 = retry at once.
    /// </summary>
    public double? BackoffSeconds { get; init; }

    /// <summary>At most this many concurrent runs of the script on one node.</summary>
    public int? MaxConcurrentPerNode { get; init; }

    /// <summary>At most this many concurrent runs of the script in the cluster.</summary>
    public int? MaxConcurrentPerCluster { get; init; }

    /// <summary>Expected CPU use in cores (admission hint).</summary>
    public double? ExpectedCpu { get; init; }

    /// <summary>Expected memory use in MiB (admission hint).</summary>
    public long? ExpectedMemoryMb { get; init; }

    /// <summary>
    /// Memory limit in MiB: the run's data segment limit (<c>RLIMIT_DATA</c>, set through util-linux <c>prlimit</c>),
    /// so allocations beyond it fail inside the script (Python raises <c>MemoryError</c>).
    /// </summary>
    public long? MemoryLimitMb { get; init; }

    /// <summary>Output retained per run, in bytes (at least 1); beyond it lines are counted and drained but no longer kept.</summary>
    public long? MaxOutputBytes { get; init; }

    /// <summary>
    /// A JSON schema (draft 2020-12 unless it names another) for the script's args, checked before a task is accepted.
    /// Only local references (<c>"$ref": "#/…"</c>) are allowed: nothing is fetched.
    /// </summary>
    public JsonElement? ArgsSchema { get; init; }

    private JsonSchema? _argsSchema;

    /// <summary>
    /// Checks a task's args against <see cref="ArgsSchema"/>; returns why they do not match (at most three problems,
    /// each with its JSON pointer under <paramref name="field"/>), or null.
    /// </summary>
    public string? CheckArgs(JsonElement args, string field = "args")
    {
        if (_argsSchema is null) return null;
        // The schema library turns numbers into decimals, and its multipleOf sizes a stack buffer by the exponent:
        // a hostile 1e-100000000 would overflow the stack (uncatchable). Numbers beyond what a double holds never reach it.
        if (FindUncheckableNumber(args, field) is { } uncheckable) return uncheckable;
        EvaluationResults results;
        try
        {
            results = _argsSchema.Evaluate(args, new EvaluationOptions { OutputFormat = OutputFormat.List });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"{field} could not be checked against the script's argsSchema: {Shorten(e.Message)}";
        }
        if (results.IsValid) return null;

        const int shown = 3;
        var problems = (results.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => Shorten($"{field}{d.InstanceLocation}: {e.Value}")))
            .Distinct()
            .ToList();
        if (problems.Count == 0) return $"{field} do not match the script's argsSchema";
        var text = new StringBuilder($"{field} do not match the script's argsSchema: ").AppendJoin("; ", problems.Take(shown));
        if (problems.Count > shown) text.Append($" (and {problems.Count - shown} more)");
        return text.ToString();
    }

    private const int MaxNumberDigits = 40;
    private const int MaxNumberExponent = 308;

    private static string? FindUncheckableNumber(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Number:
                return IsCheckable(element.GetRawText()) ? null
                    : $"{Shorten(path)} is a number beyond what argsSchema checks ({MaxNumberDigits} digits, exponent ±{MaxNumberExponent})";
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                    if (FindUncheckableNumber(property.Value, $"{path}/{property.Name}") is { } found) return found;
                return null;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                    if (FindUncheckableNumber(item, $"{path}/{index++}") is { } found) return found;
                return null;
            default:
                return null;
        }
    }

    /// <summary>At most <see cref="MaxNumberDigits"/> digits and an exponent within ±<see cref="MaxNumberExponent"/> (raw JSON number text).</summary>
    private static bool IsCheckable(string number)
    {
        var e = number.AsSpan().IndexOfAny('e', 'E');
        var mantissa = e < 0 ? number.AsSpan() : number.AsSpan(0, e);
        var digits = 0;
        foreach (var c in mantissa)
            if (char.IsAsciiDigit(c)) digits++;
        if (digits > MaxNumberDigits) return false;
        if (e < 0) return true;
        return int.TryParse(number.AsSpan(e + 1), System.Globalization.NumberStyles.AllowLeadingSign,
                   System.Globalization.CultureInfo.InvariantCulture, out var exponent)
               && Math.Abs(exponent) <= MaxNumberExponent;
    }

    /// <summary>A problem as shown in a rejection: printable, and at most 200 characters (it may quote the task's own input).</summary>
    private static string Shorten(string text)
    {
        var printable = string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++) span[i] = char.IsControl(source[i]) ? ' ' : source[i];
        });
        return printable.Length <= 200 ? printable : printable[..200] + "…";
    }

    /// <summary>The first <c>$ref</c> that is not local (<c>#…</c>), anywhere in the schema, or null.</summary>
    private static string? FindRemoteReference(JsonElement schema)
    {
        switch (schema.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in schema.EnumerateObject())
                {
                    if (property.Name == "$ref" && property.Value.ValueKind == JsonValueKind.String && !property.Value.GetString()!.StartsWith('#'))
                        return property.Value.GetString();
                    if (FindRemoteReference(property.Value) is { } found) return found;
                }
                return null;
            case JsonValueKind.Array:
                foreach (var item in schema.EnumerateArray())
                    if (FindRemoteReference(item) is { } found) return found;
                return null;
            default:
                return null;
        }
    }

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
        if (manifest.ArgsSchema is { } schema)
        {
            if (FindRemoteReference(schema) is { } remote)
                throw new FormatException($"'argsSchema' refers to '{Shorten(remote)}': only local references (\"#/…\") are allowed, nothing is fetched");
            try
            {
                // a registry of its own: nothing is fetched, and two manifests with the same $id do not collide
                manifest._argsSchema = JsonSchema.Build(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new FormatException($"'argsSchema' is not a usable JSON schema: {e.Message}", e);
            }
        }
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

        static void AtMost(string name, double? value, double max, string unit)
        {
            if (value is { } v && v > max)
                throw new FormatException($"'{name}' must be at most {max}{unit}, got {v}");
        }

        Positive("timeoutSeconds", TimeoutSeconds);
        AtMost("timeoutSeconds", TimeoutSeconds, Contracts.TaskParser.MaxTimeoutSeconds, " (7 days)");
        Positive("maxAttempts", MaxAttempts);
        AtMost("maxAttempts", MaxAttempts, Contracts.TaskParser.MaxMaxAttempts, "");
        NotNegative("backoffSeconds", BackoffSeconds);
        AtMost("backoffSeconds", BackoffSeconds, Contracts.TaskParser.MaxTimeoutSeconds, " (7 days)");
        Positive("maxConcurrentPerNode", MaxConcurrentPerNode);
        Positive("maxConcurrentPerCluster", MaxConcurrentPerCluster);
        Positive("expectedCpu", ExpectedCpu);
        Positive("expectedMemoryMb", ExpectedMemoryMb);
        Positive("memoryLimitMb", MemoryLimitMb);
        AtMost("memoryLimitMb", MemoryLimitMb, 1L << 30, " (1 PiB)");
        Positive("maxOutputBytes", MaxOutputBytes);
        if (ArgsSchema is { } schema && schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
            throw new FormatException($"'argsSchema' must be a JSON schema (object or boolean), got {schema.ValueKind}");
    }
}
