using System.Text.Json;
using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class TaskSpecRoundTripSpecs
{
    private static void AssertSameSpec(TaskSpec expected, TaskSpec actual)
    {
        Assert.Equal(Canon(expected.Args), Canon(actual.Args));
        Assert.Equal(expected with { Args = default }, actual with { Args = default });
    }

    [Fact]
    public void A_hive_task_survives_serialize_and_parse()
    {
        var original = Accepted("""
            {"taskId":"t1","script":"transcode","args":{"input":"a.mp4","n":[1,{"x":null}]},
             "acceptUrl":"http://a/acc","responseUrl":"https://b/done","timeoutSeconds":90,"maxAttempts":4,
             "loop":-1,"interval":2.25,"progressLength":7,"resultLength":3}
            """, new TaskMessageHeaders(null, null, "reply-q", "hive.tasks"));

        var again = Accepted(System.Text.Encoding.UTF8.GetString(TaskParser.Serialize(original)));

        AssertSameSpec(original, again);
    }

    [Fact]
    public void A_minimal_task_survives_serialize_and_parse_even_under_other_node_defaults()
    {
        var original = Accepted("""{"taskId":"t2","script":"clean-up"}""");
        var otherDefaults = Options with { DefaultMaxAttempts = 9, DefaultProgressLength = 99, DefaultResultLength = 9 };

        var again = Accepted(System.Text.Encoding.UTF8.GetString(TaskParser.Serialize(original)), options: otherDefaults);

        AssertSameSpec(original, again);
    }

    [Fact]
    public void A_seed_mission_keeps_its_shape_and_seed_options_through_a_requeue()
    {
        var original = Accepted("""
            {"missionId":"m-1","responseUrl":"http://backend/response",
             "target":{"command":"echo \"hi\"; sleep 1","loop":3,"interval":1,"isMarkAllProgress":1,"markProgressLength":-1}}
            """, new TaskMessageHeaders(null, "m-1", null, "hive.mission"), CommandsAllowed);

        var json = TaskParser.Serialize(original);
        var again = Accepted(System.Text.Encoding.UTF8.GetString(json), options: CommandsAllowed);

        AssertSameSpec(original, again);
        Assert.Equal(TaskShape.Seed, again.Shape);
        Assert.Equal(new SeedOptions(true, -1), again.Seed);
    }

    [Fact]
    public void The_canonical_form_is_hive_shaped_and_omits_absent_fields()
    {
        var spec = Accepted("""{"taskId":"t3","script":"transcode"}""");
        var root = Json(TaskParser.Serialize(spec));

        Assert.Equal("t3", root.GetProperty("taskId").GetString());
        Assert.Equal("transcode", root.GetProperty("script").GetString());
        Assert.Equal(JsonValueKind.Object, root.GetProperty("args").ValueKind);
        Assert.False(root.TryGetProperty("command", out _));
        Assert.False(root.TryGetProperty("acceptUrl", out _));
        Assert.False(root.TryGetProperty("timeoutSeconds", out _));
        Assert.False(root.TryGetProperty("seed", out _));
        Assert.False(root.TryGetProperty("missionId", out _));
    }

    [Fact]
    public void A_requeued_command_is_still_refused_on_a_node_without_commands()
    {
        var spec = Accepted("""{"missionId":"m-2","target":{"command":"rm -rf /tmp/x"}}""", options: CommandsAllowed);
        var r = Rejected(System.Text.Encoding.UTF8.GetString(TaskParser.Serialize(spec)));
        Assert.Equal("m-2", r.TaskId);
        Assert.Equal("command is disabled on this node (hive.tasks.allow-commands = off)", r.Reason);
    }
}
