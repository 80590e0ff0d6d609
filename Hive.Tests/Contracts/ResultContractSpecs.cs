using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class ResultContractSpecs
{
    private static readonly DateTimeOffset T0 = new(2025, 11, 27, 8, 30, 0, 123, TimeSpan.Zero);

    public static TaskResult SampleResult(TaskState state = TaskState.Failed) => new(
        "t1", "transcode", state, 3, null, "exit code 3", 2, 3,
        ["line 9", "line 10"], Json("""{"frames":120,"ok":false}"""),
        T0, T0.AddSeconds(5), T0.AddMinutes(2).AddTicks(7), "node-a", 2,
        [["run0 last"], ["line 9", "line 10"]]);

    [Theory]
    [InlineData(TaskState.Queued, "queued", false)]
    [InlineData(TaskState.Accepted, "accepted", false)]
    [InlineData(TaskState.Running, "running", false)]
    [InlineData(TaskState.Paused, "paused", false)]
    [InlineData(TaskState.Succeeded, "succeeded", true)]
    [InlineData(TaskState.Failed, "failed", true)]
    [InlineData(TaskState.Stopped, "stopped", true)]
    [InlineData(TaskState.TimedOut, "timed-out", true)]
    [InlineData(TaskState.Rejected, "rejected", true)]
    [InlineData(TaskState.Dead, "dead", true)]
    public void Task_states_have_wire_names_that_parse_back(TaskState state, string wire, bool final)
    {
        Assert.Equal(wire, state.ToWire());
        Assert.Equal(state, TaskStateWire.Parse(wire));
        Assert.Equal(final, state.IsFinal());
    }

    [Fact]
    public void Every_task_state_has_a_wire_name() =>
        Assert.All(Enum.GetValues<TaskState>(), s => Assert.Equal(s, TaskStateWire.Parse(s.ToWire())));

    [Theory]
    [InlineData("TimedOut")]
    [InlineData("Running")]
    [InlineData("")]
    public void Unknown_wire_states_are_refused(string wire)
    {
        var ex = Assert.Throws<FormatException>(() => TaskStateWire.Parse(wire));
        Assert.Contains("timed-out", ex.Message);
        Assert.False(TaskStateWire.TryParse(wire, out _));
    }

    [Fact]
    public void End_reasons_read_as_the_design_says()
    {
        Assert.Equal(new TaskEnd(TaskState.Succeeded, 0, null, "exit code 0"), TaskEnd.Exited(0));
        Assert.Equal(new TaskEnd(TaskState.Failed, 3, null, "exit code 3"), TaskEnd.Exited(3));
        Assert.Equal(new TaskEnd(TaskState.Failed, null, 9, "killed by SIGKILL"), TaskEnd.Killed(9));
        Assert.Equal("killed by signal 64", TaskEnd.Killed(64).Reason);
        Assert.Equal("out of memory (killed by SIGKILL)", TaskEnd.OutOfMemory().Reason);
        Assert.Equal(new TaskEnd(TaskState.TimedOut, null, 15, "timed out after 30 s"), TaskEnd.TimedOut(TimeSpan.FromSeconds(30), 15));
        Assert.Equal(new TaskEnd(TaskState.Stopped, null, null, "stopped by control message"), TaskEnd.Stopped());
        Assert.Equal("stopped by ops@backend", TaskEnd.Stopped("ops@backend").Reason);
        Assert.Equal(new TaskEnd(TaskState.Failed, null, null, "node lost"), TaskEnd.NodeLost());
        Assert.Equal(new TaskEnd(TaskState.Rejected, null, null, "rejected: script 'x': unknown"), TaskEnd.Rejected("script 'x': unknown"));
    }

    [Fact]
    public void A_result_message_survives_to_json_and_back()
    {
        var original = SampleResult();
        var again = ResultMessages.FromJson(ResultMessages.ToJson(original));

        Assert.NotNull(again);
        Assert.Equal(Canon(original.Result), Canon(again.Result));
        Assert.Equal(original.Lines, again.Lines);
        Assert.Equal(original.RunLines!.Select(r => r.ToArray()), again.RunLines!.Select(r => r.ToArray()));
        Assert.Equal(
            original with { Result = null, Lines = [], RunLines = null },
            again with { Result = null, Lines = [], RunLines = null });
    }

    [Fact]
    public void A_rejected_result_with_nulls_survives_to_json_and_back()
    {
        var original = TaskResult.Rejected("t9", "body is not valid JSON: x", T0, "node-b");
        var json = ResultMessages.ToJson(original);
        var again = ResultMessages.FromJson(json)!;

        Assert.Equal("rejected", Json(json).GetProperty("state").GetString());
        Assert.Equal("rejected: body is not valid JSON: x", again.Reason);
        Assert.Null(again.Result);
        Assert.Null(again.RunLines);
        Assert.Null(again.StartedAt);
        Assert.Equal(original with { Lines = [] }, again with { Lines = [] });
    }

    [Fact]
    public void The_result_message_is_camel_case_with_wire_state_and_iso_times()
    {
        var root = Json(ResultMessages.ToJson(SampleResult(TaskState.TimedOut)));
        Assert.Equal("timed-out", root.GetProperty("state").GetString());
        Assert.Equal("t1", root.GetProperty("taskId").GetString());
        Assert.Equal(3, root.GetProperty("exitCode").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("signal").ValueKind);
        Assert.Equal(120, root.GetProperty("result").GetProperty("frames").GetInt32());
        Assert.Equal("2025-11-27T08:30:00.123+00:00", root.GetProperty("queuedAt").GetString());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("""{"state":"failed","reason":"x"}""")]
    [InlineData("""{"taskId":"t1","state":"exploded","reason":"x"}""")]
    [InlineData("""{"taskId":"t1","state":"failed"}""")]
    [InlineData("""{"taskId":"t1","state":"failed","reason":"x","runLines":[[1]]}""")]
    public void Things_that_are_not_result_messages_read_as_null(string json) =>
        Assert.Null(ResultMessages.FromJson(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void A_status_document_survives_to_json_and_back()
    {
        var original = new TaskStatusDocument("t1", "transcode", TaskState.Paused, "node-a", "guide-2", 1, 42.5, "encode",
            ["a", "b", "c"], 1234567890123L, T0, T0.AddSeconds(1), T0.AddSeconds(9), null, null, Json("""{"x":1}"""), 4242);

        var json = TaskStatusJson.ToJson(original);
        var again = TaskStatusJson.FromJson(json)!;

        Assert.Equal(original.Lines, again.Lines);
        Assert.Equal(Canon(original.Result), Canon(again.Result));
        Assert.Equal(original with { Lines = [], Result = null }, again with { Lines = [], Result = null });
    }

    [Fact]
    public void The_status_document_is_camel_case_with_the_wire_state()
    {
        var doc = new TaskStatusDocument("t1", null, TaskState.TimedOut, null, null, 2, null, null, [], 0, null, null, T0, 137, "timed out after 5 s", null, null);
        var root = Json(TaskStatusJson.ToJson(doc));

        Assert.Equal("timed-out", root.GetProperty("state").GetString());
        Assert.Equal(2, root.GetProperty("attempt").GetInt32());
        Assert.Equal(137, root.GetProperty("exitCode").GetInt32());
        Assert.Equal("timed out after 5 s", root.GetProperty("reason").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("progress").ValueKind);
        Assert.Equal(JsonValueKind.Array, root.GetProperty("lines").ValueKind);
        Assert.True(root.TryGetProperty("updatedAt", out _));
        Assert.True(root.TryGetProperty("totalLines", out _));
        Assert.Equal(doc with { Lines = [] }, TaskStatusJson.FromJson(TaskStatusJson.ToJson(doc))! with { Lines = [] });
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("""{"taskId":"t1","state":"running"}""")]
    [InlineData("""{"taskId":"t1","state":"nope","updatedAt":"2025-01-01T00:00:00Z"}""")]
    public void Things_that_are_not_status_documents_read_as_null(string json) =>
        Assert.Null(TaskStatusJson.FromJson(json));

    [Fact]
    public void Redis_keys_follow_the_design()
    {
        Assert.Equal("hive:task:t1", RedisKeys.Task("t1"));
        Assert.Equal("hive:node:node-a", RedisKeys.Node("node-a"));
        Assert.Equal("hive:events", RedisKeys.Events);
        Assert.Equal("hive.progress-m1", RedisKeys.SeedProgress("m1"));
        Assert.Equal("hive.watchdog-192.168.1.100", RedisKeys.SeedWatchdog("192.168.1.100"));
    }
}
