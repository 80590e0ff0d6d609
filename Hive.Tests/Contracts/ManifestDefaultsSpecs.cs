using System.Text;
using Hive.Actors.Contracts;
using Hive.Tests.Processes;
using Xunit;

namespace Hive.Tests.Contracts;

/// <summary>A script's manifest (tasks/&lt;script&gt;.json) sets a task's defaults when it is accepted; the message wins.</summary>
public sealed class ManifestDefaultsSpecs : IDisposable
{
    private readonly TempTasks _dir = new();

    public ManifestDefaultsSpecs()
    {
        _dir.Write("resize.py", "print(1)");
        _dir.Write("resize.json", """
            { "timeoutSeconds": 90, "maxAttempts": 5, "backoffSeconds": 2.5, "maxConcurrentPerNode": 2,
              "argsSchema": { "type": "object", "required": ["width"],
                              "properties": { "width": { "type": "integer", "minimum": 1 } } } }
            """);
        _dir.Write("plain.sh", "echo 1");
    }

    public void Dispose() => _dir.Dispose();

    private ParseOutcome Parse(string json) =>
        TaskParser.Parse(Encoding.UTF8.GetBytes(json), TaskMessageHeaders.None,
            ContractTestHelpers.Options with { CheckScript = _dir.Catalog().Check });

    [Fact]
    public void A_task_without_its_own_limits_takes_the_manifest_s()
    {
        var accepted = Assert.IsType<ParseOutcome.Accepted>(Parse("""{"taskId": "t1", "script": "resize", "args": {"width": 10}}"""));
        var spec = accepted.Spec;

        Assert.Equal(2, accepted.Manifest?.MaxConcurrentPerNode); // what the ingestion puts on the delivery for the monitor
        Assert.Equal(90, spec.TimeoutSeconds);
        Assert.Equal(5, spec.MaxAttempts);
        Assert.Equal(2.5, spec.RetryBackoffSeconds);
    }

    [Fact]
    public void The_message_s_own_timeout_and_attempts_win_over_the_manifest()
    {
        var spec = Assert.IsType<ParseOutcome.Accepted>(
            Parse("""{"taskId": "t1", "script": "resize", "args": {"width": 10}, "timeoutSeconds": 7, "maxAttempts": 1}""")).Spec;

        Assert.Equal(7, spec.TimeoutSeconds);
        Assert.Equal(1, spec.MaxAttempts);
    }

    [Fact]
    public void A_script_without_a_manifest_keeps_the_node_defaults()
    {
        var spec = Assert.IsType<ParseOutcome.Accepted>(Parse("""{"taskId": "t1", "script": "plain"}""")).Spec;

        Assert.Null(spec.TimeoutSeconds);
        Assert.Equal(ContractTestHelpers.Options.DefaultMaxAttempts, spec.MaxAttempts);
        Assert.Null(spec.RetryBackoffSeconds);
    }

    [Fact]
    public void A_seed_shaped_task_naming_a_script_takes_the_manifest_s_defaults_too()
    {
        var spec = Assert.IsType<ParseOutcome.Accepted>(Parse("""{"missionId": "m1", "target": {"script": "resize", "args": {"width": 3}}}""")).Spec;

        Assert.Equal((90, 5, 2.5), (spec.TimeoutSeconds, spec.MaxAttempts, spec.RetryBackoffSeconds));
    }

    [Fact]
    public void A_requeued_task_keeps_what_it_was_accepted_with_when_the_manifest_changes_meanwhile()
    {
        var spec = Assert.IsType<ParseOutcome.Accepted>(Parse("""{"taskId": "t1", "script": "resize", "args": {"width": 10}}""")).Spec;
        _dir.Write("resize.json", """{ "argsSchema": { "properties": { "width": { "type": "string" } } } }""");
        var body = TaskParser.Serialize(spec);
        var options = ContractTestHelpers.Options with { CheckScript = _dir.Catalog().Check };

        var requeued = TaskParser.Parse(body, new TaskMessageHeaders(null, null, null, null, Requeued: true), options);
        var resubmitted = TaskParser.Parse(body, TaskMessageHeaders.None, options);

        var again = Assert.IsType<ParseOutcome.Accepted>(requeued).Spec;
        Assert.Equal((90, 5, 2.5), (again.TimeoutSeconds, again.MaxAttempts, again.RetryBackoffSeconds));
        Assert.Contains("args/width", Assert.IsType<ParseOutcome.Rejected>(resubmitted).Reason);
    }

    [Fact]
    public void A_catalog_that_throws_makes_a_rejection_not_an_exception()
    {
        var options = ContractTestHelpers.Options with { CheckScript = _ => throw new IOException("disk gone") };

        var rejected = Assert.IsType<ParseOutcome.Rejected>(
            TaskParser.Parse(Encoding.UTF8.GetBytes("""{"taskId": "t1", "script": "resize"}"""), new TaskMessageHeaders("t1", null, null, null), options));

        Assert.Equal("t1", rejected.TaskId);
        Assert.Contains("could not be checked", rejected.Reason);
    }

    [Fact]
    public void Args_that_do_not_match_the_schema_are_rejected_with_the_task_id_and_the_field()
    {
        var hive = Assert.IsType<ParseOutcome.Rejected>(Parse("""{"taskId": "t1", "script": "resize", "args": {"width": "wide"}}"""));
        var seed = Assert.IsType<ParseOutcome.Rejected>(Parse("""{"missionId": "m1", "target": {"script": "resize", "args": {}}}"""));
        var none = Assert.IsType<ParseOutcome.Rejected>(Parse("""{"taskId": "t2", "script": "resize"}"""));

        Assert.Equal("t1", hive.TaskId);
        Assert.Contains("args/width", hive.Reason);
        Assert.Contains("tasks/resize.json", hive.Reason);
        Assert.Equal("m1", seed.TaskId);
        Assert.StartsWith("target.args do not match", seed.Reason);
        Assert.Contains("width", none.Reason);
    }
}
