using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class SeedTaskParserSpecs
{
    private const string SeedMission = """
        {"missionId":"5c70489e-a04e-4186-9e51-93bd0ea69dba",
         "acceptUrl":"http://10.0.0.5:8080/task/worker/accept",
         "responseUrl":"http://10.0.0.5:8080/task/worker/response",
         "target":{"command":"python3 -u /home/hive/run/mission/sample.py \"{\\\"requestId\\\":\\\"123\\\"}\" 2>&1",
                   "loop":12,"interval":1,"isMarkAllProgress":1,"markProgressLength":3,"progressLength":5}}
        """;

    [Fact]
    public void The_seeds_own_mission_message_is_accepted_where_commands_are_allowed()
    {
        var spec = Accepted(SeedMission, new TaskMessageHeaders(null, "5c70489e-a04e-4186-9e51-93bd0ea69dba", null, "hive.mission"), CommandsAllowed);

        Assert.Equal(TaskShape.Seed, spec.Shape);
        Assert.Equal("5c70489e-a04e-4186-9e51-93bd0ea69dba", spec.TaskId);
        Assert.StartsWith("python3 -u /home/hive/run/mission/sample.py", spec.Command);
        Assert.Null(spec.Script);
        Assert.Equal("http://10.0.0.5:8080/task/worker/accept", spec.AcceptUrl);
        Assert.Equal("http://10.0.0.5:8080/task/worker/response", spec.ResponseUrl);
        Assert.Equal(12, spec.Loop);
        Assert.Equal(1, spec.IntervalSeconds);
        Assert.Equal(5, spec.ProgressLength);
        Assert.Equal(3, spec.ResultLength);
        Assert.Equal(new SeedOptions(true, 3), spec.Seed);
        Assert.Equal("hive.mission", spec.Queue);
        Assert.Equal(3, spec.MaxAttempts);
    }

    [Fact]
    public void A_seed_command_is_rejected_with_the_setting_named_where_commands_are_off()
    {
        var r = Rejected(SeedMission);
        Assert.Equal("5c70489e-a04e-4186-9e51-93bd0ea69dba", r.TaskId);
        Assert.Equal("target.command is disabled on this node (hive.tasks.allow-commands = off)", r.Reason);
    }

    [Fact]
    public void A_seed_target_gets_the_seeds_defaults()
    {
        var spec = Accepted("""{"missionId":"m1","target":{"command":"echo hi"}}""", options: CommandsAllowed);

        Assert.Equal(1, spec.Loop);
        Assert.Equal(0, spec.IntervalSeconds);
        Assert.Equal(new SeedOptions(false, 1), spec.Seed);
        Assert.Equal(TaskParser.SeedDefaultProgressLength, spec.ProgressLength);
        Assert.Equal(1, spec.ResultLength);
        Assert.Equal("{}", Canon(spec.Args));
        Assert.Null(spec.AcceptUrl);
        Assert.Null(spec.TimeoutSeconds);
    }

    [Fact]
    public void A_seed_target_may_name_a_script_and_args_instead_of_a_command()
    {
        var spec = Accepted("""{"missionId":"m1","target":{"script":"transcode","args":{"input":"a.mp4"},"loop":-1}}""");

        Assert.Equal("transcode", spec.Script);
        Assert.Null(spec.Command);
        Assert.Equal("""{"input":"a.mp4"}""", Canon(spec.Args));
        Assert.Equal(-1, spec.Loop);
        Assert.Equal(TaskShape.Seed, spec.Shape);
    }

    [Fact]
    public void A_seed_target_script_goes_through_the_same_name_checks_and_catalog()
    {
        Assert.Contains("tasks/", Rejected("""{"missionId":"m1","target":{"script":"../../bin/sh"}}""").Reason);
        Assert.Equal("target.script 'nope': is not in tasks/ on this node", Rejected("""{"missionId":"m1","target":{"script":"nope"}}""").Reason);
    }

    [Fact]
    public void The_mission_id_falls_back_to_the_correlation_id_first()
    {
        var spec = Accepted("""{"target":{"script":"transcode"}}""", new TaskMessageHeaders("msg-1", "corr-1", null, null));
        Assert.Equal("corr-1", spec.TaskId);
    }

    [Fact]
    public void The_mission_id_falls_back_to_the_message_id_when_there_is_no_correlation_id()
    {
        var spec = Accepted("""{"target":{"script":"transcode"}}""", new TaskMessageHeaders("msg-1", null, null, null));
        Assert.Equal("msg-1", spec.TaskId);
    }

    [Fact]
    public void A_seed_message_without_any_mission_id_is_rejected()
    {
        var r = Rejected("""{"target":{"script":"transcode"}}""");
        Assert.Null(r.TaskId);
        Assert.Equal("missionId is missing: give missionId in the body or an AMQP correlation-id", r.Reason);
    }

    [Fact]
    public void A_mission_without_a_target_is_rejected()
    {
        var r = Rejected("""{"missionId":"m1"}""");
        Assert.Equal("m1", r.TaskId);
        Assert.StartsWith("target is missing", r.Reason);

        Assert.Equal("target must be an object; got the string 'echo'", Rejected("""{"missionId":"m1","target":"echo"}""").Reason);
    }

    [Fact]
    public void A_target_without_command_or_script_is_rejected()
    {
        Assert.Equal("target.script is missing: name a script in tasks/ (or a target.command where commands are allowed)",
            Rejected("""{"missionId":"m1","target":{"loop":2}}""").Reason);
    }

    [Theory]
    [InlineData("\"isMarkAllProgress\":true", true)]
    [InlineData("\"isMarkAllProgress\":false", false)]
    [InlineData("\"isMarkAllProgress\":0", false)]
    [InlineData("\"isMarkAllProgress\":1", true)]
    public void Is_mark_all_progress_takes_the_seeds_integers_or_booleans(string field, bool expected) =>
        Assert.Equal(expected, Accepted($$$"""{"missionId":"m1","target":{"script":"transcode",{{{field}}}}}""").Seed!.IsMarkAllProgress);

    [Fact]
    public void Mark_progress_length_minus_one_keeps_every_line_up_to_the_cap_and_zero_keeps_none()
    {
        var all = Accepted("""{"missionId":"m1","target":{"script":"transcode","markProgressLength":-1}}""");
        Assert.Equal(-1, all.Seed!.MarkProgressLength);
        Assert.Equal(TaskParser.MaxResultLength, all.ResultLength);

        var none = Accepted("""{"missionId":"m1","target":{"script":"transcode","markProgressLength":0}}""");
        Assert.Equal(0, none.Seed!.MarkProgressLength);
        Assert.Equal(0, none.ResultLength);
    }

    [Theory]
    [InlineData("\"loop\":0", "target.loop must be -1 (run forever) or an integer >= 1; got 0")]
    [InlineData("\"interval\":-3", "target.interval must be a number of seconds from 0 to 604800; got -3")]
    [InlineData("\"isMarkAllProgress\":\"yes\"", "target.isMarkAllProgress must be true/false or 0/1; got the string 'yes'")]
    [InlineData("\"markProgressLength\":-2", "target.markProgressLength must be an integer from -1 to 1000 (-1 = every line); got -2")]
    [InlineData("\"progressLength\":5000", "target.progressLength must be an integer from 0 to 1000; got 5000")]
    [InlineData("\"script\":7", "target.script must be a string; got 7")]
    public void Seed_target_fields_of_the_wrong_type_are_rejected_naming_the_target_field(string field, string reason)
    {
        var json = $$$"""{"missionId":"m1","target":{"script":"transcode",{{{field}}}}}""".Replace("\"script\":\"transcode\",\"script\"", "\"script\"");
        var r = Rejected(json);
        Assert.Equal("m1", r.TaskId);
        Assert.Equal(reason, r.Reason);
    }

    [Fact]
    public void Seed_top_level_fields_are_validated_too()
    {
        Assert.Equal("acceptUrl must be an absolute http(s) URL; got a relative or malformed URL",
            Rejected("""{"missionId":"m1","acceptUrl":"task/worker/accept","target":{"script":"transcode"}}""").Reason);
        Assert.Equal("missionId must be a string; got 5",
            Rejected("""{"missionId":5,"target":{"script":"transcode"}}""").Reason);
    }

    [Fact]
    public void Seed_target_args_are_bounded_in_depth()
    {
        var options = Options with { MaxArgsDepth = 2 };
        var r = Rejected("""{"missionId":"m1","target":{"script":"transcode","args":{"a":{"b":{"c":1}}}}}""", options: options);
        Assert.Equal("m1", r.TaskId);
        Assert.Equal("target.args nests 3 levels deep; the limit is 2 (hive.tasks.max-args-depth)", r.Reason);
    }

    [Fact]
    public void Hive_extensions_timeout_and_max_attempts_are_read_at_the_top_level_of_a_mission()
    {
        var spec = Accepted("""{"missionId":"m1","timeoutSeconds":60,"maxAttempts":2,"target":{"script":"transcode"}}""");
        Assert.Equal(60, spec.TimeoutSeconds);
        Assert.Equal(2, spec.MaxAttempts);
    }
}
