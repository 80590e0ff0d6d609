using System.Text;
using System.Text.Json;
using Hive.Actors.Processes;
using Xunit;

namespace Hive.Tests.Processes;

public sealed class ScriptManifestSpecs
{
    private static ScriptManifest Parse(string json) => ScriptManifest.Parse(Encoding.UTF8.GetBytes(json));

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private const string ResizeSchema = """
        { "argsSchema": {
            "type": "object",
            "required": ["input", "width"],
            "properties": {
              "input": { "type": "string", "minLength": 1 },
              "width": { "type": "integer", "minimum": 1, "maximum": 8192 }
            },
            "additionalProperties": false } }
        """;

    [Theory]
    [InlineData("""{ "timeoutSeconds": 1.5 }""", "timeoutSeconds")]
    [InlineData("""{ "timeoutSeconds": 604801 }""", "'timeoutSeconds' must be at most 604800")]
    [InlineData("""{ "maxAttempts": 101 }""", "'maxAttempts' must be at most 100")]
    [InlineData("""{ "backoffSeconds": -1 }""", "'backoffSeconds' must be zero or positive")]
    [InlineData("""{ "memoryLimitMb": 0 }""", "'memoryLimitMb' must be a positive number")]
    [InlineData("""{ "argsSchema": 5 }""", "'argsSchema' must be a JSON schema")]
    [InlineData("""{ "argsSchema": { "type": "nonsense" } }""", "'argsSchema' is not a usable JSON schema")]
    [InlineData("""{ "argsSchema": { "$ref": "https://example.com/args.json" } }""", "only local references")]
    [InlineData("""{ "maxOutputBytes": 0 }""", "'maxOutputBytes' must be a positive number")]
    public void Limits_out_of_range_and_unusable_schemas_are_refused_with_the_field_named(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => Parse(json));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Args_that_match_the_schema_pass()
    {
        var manifest = Parse(ResizeSchema);
        Assert.Null(manifest.CheckArgs(Json("""{ "input": "a.png", "width": 640 }""")));
    }

    [Fact]
    public void Args_that_do_not_match_are_refused_with_a_pointer_to_each_problem()
    {
        var manifest = Parse(ResizeSchema);

        var wrongType = manifest.CheckArgs(Json("""{ "input": "a.png", "width": "wide" }"""));
        var missing = manifest.CheckArgs(Json("""{ "width": 10 }"""), "target.args");
        var many = manifest.CheckArgs(Json("""{ "input": "", "width": 0, "x": 1, "y": 2 }"""));

        Assert.NotNull(wrongType);
        Assert.StartsWith("args do not match the script's argsSchema: ", wrongType);
        Assert.Contains("args/width", wrongType);
        Assert.NotNull(missing);
        Assert.StartsWith("target.args do not match", missing);
        Assert.Contains("input", missing);
        Assert.NotNull(many);
        Assert.Contains("more)", many);
    }

    [Theory]
    [InlineData("""{ "properties": { "n": { "const": 1 } } }""", """{ "n": 1e29 }""")]
    [InlineData("""{ "properties": { "n": { "enum": [1, 2] } } }""", """{ "n": 1e400 }""")]
    [InlineData("""{ "properties": { "n": { "multipleOf": 0.5 } } }""", """{ "n": 1e-100000000 }""")]
    [InlineData("""{ "properties": { "n": { "maximum": 10 } } }""", """{ "n": 1e4294967297 }""")]
    [InlineData("""{ "properties": { "n": { "uniqueItems": true } } }""", """{ "n": [1, 100000000000000000000000000000000000000000000000] }""")]
    public void Hostile_numbers_are_refused_with_a_reason_instead_of_reaching_the_schema_library(string schema, string args)
    {
        var manifest = Parse($$"""{ "argsSchema": {{schema}} }""");

        var problem = manifest.CheckArgs(Json(args));

        Assert.NotNull(problem);
        Assert.True(problem.StartsWith("args/n", StringComparison.Ordinal) || problem.StartsWith("args could not be checked", StringComparison.Ordinal), problem);
    }

    [Fact]
    public void Numbers_of_ordinary_size_are_checked_normally()
    {
        var manifest = Parse("""{ "argsSchema": { "properties": { "n": { "multipleOf": 0.5, "maximum": 1e300 } } } }""");

        Assert.Null(manifest.CheckArgs(Json("""{ "n": 2.5 }""")));
        Assert.Null(manifest.CheckArgs(Json("""{ "n": 1.5e10 }""")));
        Assert.Contains("args/n", manifest.CheckArgs(Json("""{ "n": 0.3 }""")));
    }

    [Fact]
    public void A_schema_given_as_true_accepts_anything_and_false_refuses_everything()
    {
        Assert.Null(Parse("""{ "argsSchema": true }""").CheckArgs(Json("""{ "a": 1 }""")));
        Assert.NotNull(Parse("""{ "argsSchema": false }""").CheckArgs(Json("{}")));
    }
}
