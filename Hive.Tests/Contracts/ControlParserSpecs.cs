using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class ControlParserSpecs
{
    private static ControlCommand Hive(string json)
    {
        var (command, error) = ControlParser.ParseHive(Encoding.UTF8.GetBytes(json));
        Assert.Null(error);
        return command!;
    }

    private static string HiveError(string json)
    {
        var (command, error) = ControlParser.ParseHive(Encoding.UTF8.GetBytes(json));
        Assert.Null(command);
        return error!;
    }

    private static ControlCommand Seed(string json, string? correlationId)
    {
        var (command, error) = ControlParser.ParseSeed(Encoding.UTF8.GetBytes(json), correlationId);
        Assert.Null(error);
        return command!;
    }

    private static string SeedError(string json, string? correlationId)
    {
        var (command, error) = ControlParser.ParseSeed(Encoding.UTF8.GetBytes(json), correlationId);
        Assert.Null(command);
        return error!;
    }

    [Theory]
    [InlineData("stop", ControlAction.Stop)]
    [InlineData("pause", ControlAction.Pause)]
    [InlineData("resume", ControlAction.Resume)]
    [InlineData("STOP", ControlAction.Stop)]
    public void Hive_control_messages_name_a_task_and_an_action(string action, ControlAction expected)
    {
        var c = Hive($$"""{"taskId":"t1","action":"{{action}}","by":"ops@backend"}""");
        Assert.Equal(new ControlCommand("t1", expected, null, "ops@backend"), c);
        Assert.True(c.Targets("t1"));
        Assert.False(c.Targets("t2"));
    }

    [Fact]
    public void A_hive_message_action_carries_its_data_detached_from_the_buffer()
    {
        var body = Encoding.UTF8.GetBytes("""{"taskId":"t1","action":"message","data":{"positions":[[1,2],[3,4]]}}""");
        var (c, _) = ControlParser.ParseHive(body);
        Array.Clear(body);

        Assert.Equal(ControlAction.Message, c!.Action);
        Assert.Equal("""{"positions":[[1,2],[3,4]]}""", Canon(c.Data));
        Assert.Null(c.By);
    }

    [Fact]
    public void All_targets_every_task()
    {
        var c = Hive("""{"taskId":"all","action":"pause"}""");
        Assert.True(c.TargetsAll);
        Assert.True(c.Targets("anything"));
    }

    [Theory]
    [InlineData("""{"action":"stop"}""", "taskId is missing: give a task id or \"all\"")]
    [InlineData("""{"taskId":"t 1","action":"stop"}""", "taskId 't 1' is not a task id or \"all\"")]
    [InlineData("""{"taskId":3,"action":"stop"}""", "taskId must be a string; got 3")]
    [InlineData("""{"taskId":"t1"}""", "action is missing: expected stop, pause, resume, message or drain (seed: stop, pause, start, update)")]
    [InlineData("""{"taskId":"t1","action":"explode"}""", "action 'explode' is unknown: expected stop, pause, resume, message or drain (seed: stop, pause, start, update)")]
    [InlineData("""{"taskId":"t1","action":1}""", "action must be a string; got 1")]
    [InlineData("""{"taskId":"t1","action":"message"}""", "data is missing: action \"message\" writes data to the script's stdin")]
    [InlineData("""{"taskId":"t1","action":"stop","by":5}""", "by must be a string; got 5")]
    [InlineData("""[1]""", "body is a JSON array; expected an object")]
    public void Bad_hive_control_messages_get_a_clear_error(string json, string error) =>
        Assert.Equal(error, HiveError(json));

    [Fact]
    public void A_hive_control_body_that_is_not_json_gets_a_clear_error() =>
        Assert.StartsWith("body is not valid JSON: ", HiveError("{nope"));

    [Theory]
    [InlineData("stop", ControlAction.Stop)]
    [InlineData("pause", ControlAction.Pause)]
    [InlineData("start", ControlAction.Resume)]
    public void Seed_actions_map_to_hive_actions(string action, ControlAction expected)
    {
        var c = Seed($$"""{"action":"{{action}}"}""", "mission-1");
        Assert.Equal(new ControlCommand("mission-1", expected, null, null), c);
    }

    [Fact]
    public void A_seed_update_is_a_message_whose_data_is_the_whole_body()
    {
        var c = Seed("""{"action":"update","route":[[1,2]]}""", "mission-1");
        Assert.Equal(ControlAction.Message, c.Action);
        Assert.Equal("""{"action":"update","route":[[1,2]]}""", Canon(c.Data));
    }

    [Fact]
    public void A_seed_update_with_a_data_field_sends_just_the_data()
    {
        var c = Seed("""{"action":"update","data":{"speed":3}}""", "mission-1");
        Assert.Equal("""{"speed":3}""", Canon(c.Data));
    }

    [Fact]
    public void The_seed_target_is_the_correlation_id_before_the_body_mission_id()
    {
        Assert.Equal("corr-1", Seed("""{"action":"stop","missionId":"body-1"}""", "corr-1").Target);
        Assert.Equal("body-1", Seed("""{"action":"stop","missionId":"body-1"}""", null).Target);
        Assert.Equal("body-1", Seed("""{"action":"stop","missionId":"body-1"}""", "").Target);
    }

    [Fact]
    public void A_seed_correlation_id_of_all_targets_every_task() =>
        Assert.True(Seed("""{"action":"stop"}""", "all").TargetsAll);

    [Fact]
    public void Seed_control_errors_are_clear()
    {
        Assert.Equal("missionId is missing: set the AMQP correlation-id (mission id or \"all\") or missionId in the body",
            SeedError("""{"action":"stop"}""", null));
        Assert.Equal("AMQP correlation-id 'a b' is not a task id or \"all\"", SeedError("""{"action":"stop"}""", "a b"));
        Assert.StartsWith("action 'jump' is unknown", SeedError("""{"action":"jump"}""", "m1"));
    }

    [Fact]
    public void Hive_control_accepts_the_seed_action_names_too()
    {
        Assert.Equal(ControlAction.Resume, Hive("""{"taskId":"t1","action":"start"}""").Action);
        Assert.Equal(ControlAction.Message, Hive("""{"taskId":"t1","action":"update","data":1}""").Action);
    }

    [Theory]
    [InlineData("""{"taskId":"t1","action":"stop","by":"cli"}""")]
    [InlineData("""{"taskId":"all","action":"pause"}""")]
    [InlineData("""{"taskId":"t1","action":"resume"}""")]
    [InlineData("""{"taskId":"t1","action":"message","data":{"a":[1,"b",null]}}""")]
    [InlineData("""{"taskId":"t1","action":"message","data":"text"}""")]
    public void Control_commands_survive_serialize_and_parse(string json)
    {
        var original = Hive(json);
        var again = Hive(Encoding.UTF8.GetString(ControlParser.Serialize(original)));

        Assert.Equal(original with { Data = null }, again with { Data = null });
        Assert.Equal(Canon(original.Data), Canon(again.Data));
    }

    [Fact]
    public void A_seed_command_serializes_to_the_hive_shape()
    {
        var json = Json(ControlParser.Serialize(Seed("""{"action":"start"}""", "m1")));
        Assert.Equal("m1", json.GetProperty("taskId").GetString());
        Assert.Equal("resume", json.GetProperty("action").GetString());
        Assert.False(json.TryGetProperty("data", out _));
    }
    [Fact]
    public void A_drain_names_a_node_not_a_task_and_round_trips()
    {
        var drain = Hive("""{"action": "drain", "node": "worker-3", "by": "ops"}""");

        Assert.Equal(new ControlCommand("worker-3", ControlAction.Drain, null, "ops"), drain);
        Assert.Equal(drain, Hive(Encoding.UTF8.GetString(ControlParser.Serialize(drain))));
        Assert.Equal("node is missing: action \"drain\" names the node to drain", HiveError("""{"action": "drain", "taskId": "t1"}"""));
        Assert.StartsWith("node must be a string", HiveError("""{"action": "drain", "node": 3}"""));
        var (command, error) = ControlParser.ParseSeed(Encoding.UTF8.GetBytes("""{"action": "drain"}"""), "m1");
        Assert.Null(command);
        Assert.Contains("Hive's, not the seed's", error);
    }
}
