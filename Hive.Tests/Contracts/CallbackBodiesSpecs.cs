using System.Text;
using System.Text.Json;
using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class CallbackBodiesSpecs
{
    private static readonly TaskSpec HiveSpec = Accepted("""{"taskId":"t1","script":"transcode","responseUrl":"http://b/done","maxAttempts":3}""");

    private static TaskSpec SeedSpec(string target) =>
        Accepted($$"""{"missionId":"m1","responseUrl":"http://b/response","target":{{target}}}""", options: CommandsAllowed);

    private static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();

    [Fact]
    public void The_hive_accepted_callback_names_task_node_attempt_and_idempotency_key()
    {
        var root = Json(CallbackBodies.Accepted(HiveSpec, "node-a", 2));

        Assert.Equal("t1", root.GetProperty("taskId").GetString());
        Assert.Equal("accepted", root.GetProperty("event").GetString());
        Assert.Equal("accepted", root.GetProperty("state").GetString());
        Assert.Equal("node-a", root.GetProperty("node").GetString());
        Assert.Equal(2, root.GetProperty("attempt").GetInt32());
        Assert.Equal("t1:2:accepted", root.GetProperty("idempotencyKey").GetString());
        Assert.False(root.TryGetProperty("missionId", out _));
    }

    [Fact]
    public void The_hive_finished_callback_carries_the_whole_result()
    {
        var result = ResultContractSpecs.SampleResult();
        var root = Json(CallbackBodies.Finished(HiveSpec, result));

        Assert.Equal("t1", root.GetProperty("taskId").GetString());
        Assert.Equal("finished", root.GetProperty("event").GetString());
        Assert.Equal("failed", root.GetProperty("state").GetString());
        Assert.Equal(3, root.GetProperty("exitCode").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("signal").ValueKind);
        Assert.Equal("exit code 3", root.GetProperty("reason").GetString());
        Assert.Equal(2, root.GetProperty("attempt").GetInt32());
        Assert.Equal(2, root.GetProperty("attempts").GetInt32());
        Assert.Equal(3, root.GetProperty("maxAttempts").GetInt32());
        Assert.Equal(["line 9", "line 10"], Strings(root.GetProperty("lines")));
        Assert.Equal(120, root.GetProperty("result").GetProperty("frames").GetInt32());
        Assert.Equal("2025-11-27T08:30:00.123+00:00", root.GetProperty("queuedAt").GetString());
        Assert.True(root.TryGetProperty("startedAt", out _));
        Assert.True(root.TryGetProperty("endedAt", out _));
        Assert.Equal("node-a", root.GetProperty("node").GetString());
        Assert.Equal("t1:2:finished", root.GetProperty("idempotencyKey").GetString());
    }

    [Fact]
    public void The_seed_accepted_callback_has_the_seeds_three_fields()
    {
        var root = Json(CallbackBodies.Accepted(SeedSpec("""{"command":"echo hi"}"""), "node-a", 1, "hive.control.node-a"));

        Assert.Equal("m1", root.GetProperty("missionId").GetString());
        Assert.Equal("accept", root.GetProperty("state").GetString());
        Assert.Equal("hive.control.node-a", root.GetProperty("workQueue").GetString());
        Assert.Equal("m1:1:accepted", root.GetProperty("idempotencyKey").GetString());
        Assert.False(root.TryGetProperty("taskId", out _));
    }

    [Fact]
    public void The_seed_accepted_callback_falls_back_to_the_task_queue_for_work_queue()
    {
        var spec = Accepted("""{"missionId":"m1","target":{"script":"transcode"}}""", new TaskMessageHeaders(null, null, null, "hive.mission"));
        Assert.Equal("hive.mission", Json(CallbackBodies.Accepted(spec, "node-a", 1)).GetProperty("workQueue").GetString());
    }

    [Fact]
    public void The_seed_finished_callback_has_count_execute_and_the_last_lines_as_result()
    {
        var spec = SeedSpec("""{"command":"./run.sh","loop":2,"markProgressLength":2}""");
        var result = new TaskResult("m1", null, TaskState.Succeeded, 0, null, "exit code 0", 1, 3,
            ["b", "c"], null, null, null, null, "node-a", 2, [["x", "y"], ["b", "c"]]);

        var root = Json(CallbackBodies.Finished(spec, result, "hive.control.node-a"));

        Assert.Equal("m1", root.GetProperty("missionId").GetString());
        Assert.Equal("complete", root.GetProperty("state").GetString());
        Assert.Equal("hive.control.node-a", root.GetProperty("workQueue").GetString());
        Assert.Equal(2, root.GetProperty("count").GetInt32());
        Assert.Equal(2, root.GetProperty("execute").GetInt32());
        Assert.Equal(["b", "c"], Strings(root.GetProperty("result")));
        Assert.False(root.TryGetProperty("result0", out _));
        Assert.Equal("succeeded", root.GetProperty("hiveState").GetString());
        Assert.Equal(0, root.GetProperty("exitCode").GetInt32());
        Assert.Equal("m1:1:finished", root.GetProperty("idempotencyKey").GetString());
    }

    [Fact]
    public void The_seed_finished_callback_with_mark_all_progress_has_result0_to_resultN()
    {
        var spec = SeedSpec("""{"command":"./run.sh","loop":3,"isMarkAllProgress":1,"markProgressLength":1}""");
        var result = new TaskResult("m1", null, TaskState.Succeeded, 0, null, "exit code 0", 1, 3,
            ["c2"], null, null, null, null, "node-a", 3, [["a1", "a2"], ["b1", "b2"], ["c1", "c2"]]);

        var root = Json(CallbackBodies.Finished(spec, result, "q"));

        Assert.Equal(["a2"], Strings(root.GetProperty("result0")));
        Assert.Equal(["b2"], Strings(root.GetProperty("result1")));
        Assert.Equal(["c2"], Strings(root.GetProperty("result2")));
        Assert.False(root.TryGetProperty("result3", out _));
        Assert.False(root.TryGetProperty("result", out _));
        Assert.Equal(3, root.GetProperty("execute").GetInt32());
    }

    [Fact]
    public void A_seed_mark_progress_length_of_zero_sends_no_result_lines()
    {
        var spec = SeedSpec("""{"command":"./run.sh","markProgressLength":0}""");
        var result = new TaskResult("m1", null, TaskState.Succeeded, 0, null, "exit code 0", 1, 3, ["x"], null, null, null, null, "n", 1, [["x"]]);
        var root = Json(CallbackBodies.Finished(spec, result, "q"));
        Assert.False(root.TryGetProperty("result", out _));
        Assert.False(root.TryGetProperty("result0", out _));
    }

    [Fact]
    public void A_failed_seed_command_is_complete_to_the_seed_but_visibly_failed()
    {
        var spec = SeedSpec("""{"command":"false"}""");
        var result = TaskResult.From(spec, TaskEnd.Exited(1), 3, ["boom"], null, null, null, null, "node-a", 1);

        var root = Json(CallbackBodies.Finished(spec, result, "q"));

        Assert.Equal("complete", root.GetProperty("state").GetString());
        Assert.Equal("failed", root.GetProperty("hiveState").GetString());
        Assert.Equal("exit code 1", root.GetProperty("reason").GetString());
        Assert.Equal(1, root.GetProperty("exitCode").GetInt32());
        Assert.Equal(["boom"], Strings(root.GetProperty("result")));
    }

    [Theory]
    [InlineData(TaskState.Stopped, "stop")]
    [InlineData(TaskState.TimedOut, "stop")]
    [InlineData(TaskState.Dead, "stop")]
    [InlineData(TaskState.Succeeded, "complete")]
    [InlineData(TaskState.Failed, "complete")]
    public void Seed_end_states_are_complete_or_stop(TaskState state, string seedState)
    {
        var spec = SeedSpec("""{"command":"x"}""");
        var result = new TaskResult("m1", null, state, null, null, "r", 1, 3, [], null, null, null, null, "n", 0, null);
        Assert.Equal(seedState, Json(CallbackBodies.Finished(spec, result, "q")).GetProperty("state").GetString());
    }

    [Fact]
    public void Idempotency_keys_are_task_attempt_and_event() =>
        Assert.Equal("b7c1:3:finished", CallbackBodies.IdempotencyKey("b7c1", 3, "finished"));

    [Fact]
    public void The_signature_is_hmac_sha256_hex_of_the_body_rfc4231_case_2()
    {
        var body = Encoding.ASCII.GetBytes("what do ya want for nothing?");

        Assert.Equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", CallbackBodies.SignatureHex(body, "Jefe"));
        Assert.Equal("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", CallbackBodies.Sign(body, "Jefe"));
        Assert.Equal("X-Hive-Signature", CallbackHeaders.Signature);
        Assert.Equal("Idempotency-Key", CallbackHeaders.IdempotencyKey);
    }

    [Fact]
    public void A_signature_verifies_only_for_the_same_body_and_secret()
    {
        var body = CallbackBodies.Finished(HiveSpec, ResultContractSpecs.SampleResult());
        var header = CallbackBodies.Sign(body, "s3cret");

        Assert.True(CallbackBodies.Verify(body, "s3cret", header));
        Assert.True(CallbackBodies.Verify(body, "s3cret", header.ToUpperInvariant().Replace("SHA256=", "sha256=")));
        Assert.False(CallbackBodies.Verify(body, "other", header));
        Assert.False(CallbackBodies.Verify([.. body, (byte)' '], "s3cret", header));
        Assert.False(CallbackBodies.Verify(body, "s3cret", null));
    }
}
