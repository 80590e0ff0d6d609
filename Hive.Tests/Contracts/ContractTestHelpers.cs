using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Xunit;

namespace Hive.Tests.Contracts;

internal static class ContractTestHelpers
{
    public static readonly TaskParserOptions Options = new(
        MaxBodyBytes: 1024 * 1024,
        AllowCommands: false,
        CheckScript: name => name is "transcode" or "clean-up" or "stats.v2" or "sample"
            ? ScriptCheck.Runnable(null)
            : ScriptCheck.Refused("is not in tasks/ on this node"),
        DefaultMaxAttempts: 3,
        DefaultProgressLength: 20,
        DefaultResultLength: 1,
        MaxArgsDepth: 8);

    public static readonly TaskParserOptions CommandsAllowed = Options with { AllowCommands = true };

    public static ParseOutcome Parse(string json, TaskMessageHeaders? headers = null, TaskParserOptions? options = null) =>
        TaskParser.Parse(Encoding.UTF8.GetBytes(json), headers ?? TaskMessageHeaders.None, options ?? Options);

    public static TaskSpec Accepted(string json, TaskMessageHeaders? headers = null, TaskParserOptions? options = null)
    {
        var outcome = Parse(json, headers, options);
        if (outcome is ParseOutcome.Rejected r) Assert.Fail($"expected the task to be accepted, but it was rejected: {r.Reason}");
        return Assert.IsType<ParseOutcome.Accepted>(outcome).Spec;
    }

    public static ParseOutcome.Rejected Rejected(string json, TaskMessageHeaders? headers = null, TaskParserOptions? options = null)
    {
        var outcome = Parse(json, headers, options);
        if (outcome is ParseOutcome.Accepted a) Assert.Fail($"expected a rejection, but the task was accepted: {a.Spec}");
        return Assert.IsType<ParseOutcome.Rejected>(outcome);
    }

    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static JsonElement Json(byte[] utf8) => JsonDocument.Parse(utf8).RootElement.Clone();

    /// <summary>Compact, canonical text of a JSON value for equality checks.</summary>
    public static string Canon(JsonElement e) => JsonSerializer.Serialize(e);

    public static string Canon(JsonElement? e) => e is { } v ? Canon(v) : "<none>";
}
