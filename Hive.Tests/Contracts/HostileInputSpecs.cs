using System.Text;
using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

/// <summary>Whatever arrives on the queue, parsing answers with an outcome and never throws.</summary>
public sealed class HostileInputSpecs
{
    private const string Valid = """
        {"taskId":"t1","script":"transcode","args":{"input":"a.mp4","deep":[[1,{"x":"y"}]]},"acceptUrl":"http://a/b",
         "timeoutSeconds":30,"maxAttempts":2,"loop":2,"interval":0.5,"progressLength":5,"resultLength":2}
        """;

    private const string ValidSeed = """
        {"missionId":"m1","acceptUrl":"http://a/b","target":{"command":"echo hi","loop":2,"isMarkAllProgress":1,"markProgressLength":2}}
        """;

    [Theory]
    [InlineData(Valid)]
    [InlineData(ValidSeed)]
    public void Every_prefix_of_a_valid_message_gets_an_outcome(string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        for (var length = 0; length <= bytes.Length; length++)
        {
            var outcome = TaskParser.Parse(bytes.AsSpan(0, length), new TaskMessageHeaders("m-1", null, null, null), CommandsAllowed);
            Assert.NotNull(outcome);
            if (outcome is ParseOutcome.Rejected r) Assert.False(string.IsNullOrWhiteSpace(r.Reason));
        }
    }

    [Fact]
    public void Random_bytes_and_mutated_messages_get_an_outcome_and_control_parsing_an_error()
    {
        var random = new Random(20251127);
        var valid = Encoding.UTF8.GetBytes(Valid);
        for (var i = 0; i < 3000; i++)
        {
            byte[] body;
            if (i % 2 == 0)
            {
                body = new byte[random.Next(0, 200)];
                random.NextBytes(body);
            }
            else
            {
                body = (byte[])valid.Clone();
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                    body[random.Next(body.Length)] = (byte)random.Next(32, 127);
            }

            Assert.NotNull(TaskParser.Parse(body, TaskMessageHeaders.None, Options));
            var (command, error) = ControlParser.ParseHive(body);
            Assert.True(command is not null ^ error is not null);
            (command, error) = ControlParser.ParseSeed(body, i % 3 == 0 ? "m1" : null);
            Assert.True(command is not null ^ error is not null);
        }
    }

    [Fact]
    public void Invalid_utf8_in_a_string_is_rejected_as_bad_json()
    {
        byte[] body = [.. "{\"taskId\":\"t1\",\"script\":\""u8, 0xC3, 0x28, .. "\"}"u8];
        var r = Assert.IsType<ParseOutcome.Rejected>(TaskParser.Parse(body, TaskMessageHeaders.None, Options));
        Assert.StartsWith("body is not valid JSON", r.Reason);
    }

    [Fact]
    public void A_lone_surrogate_escape_is_rejected_as_bad_json_and_keeps_the_header_id()
    {
        var body = Encoding.ASCII.GetBytes("""{"taskId":"t1","script":"\ud800"}""");
        var r = Assert.IsType<ParseOutcome.Rejected>(TaskParser.Parse(body, new TaskMessageHeaders("m-1", null, null, null), Options));
        Assert.Equal("body is not valid JSON: a string holds an invalid unicode escape", r.Reason);
        Assert.Equal("m-1", r.TaskId);

        var (command, error) = ControlParser.ParseHive(Encoding.ASCII.GetBytes("""{"taskId":"t1","action":"\udc00"}"""));
        Assert.Null(command);
        Assert.Equal("body is not valid JSON: a string holds an invalid unicode escape", error);
        Assert.Null(ResultMessages.FromJson(Encoding.ASCII.GetBytes("""{"taskId":"\ud800","state":"failed","reason":"x"}""")));
    }

    [Fact]
    public void Invalid_utf8_control_and_result_messages_are_refused()
    {
        byte[] body = [.. "{\"taskId\":\""u8, 0xFF, .. "\",\"action\":\"stop\"}"u8];
        Assert.Equal("body is not valid JSON: it is not valid UTF-8 text", ControlParser.ParseHive(body).Error);
        Assert.Null(ResultMessages.FromJson(body));
    }

    [Fact]
    public void A_megabyte_of_nesting_is_rejected_quickly_without_overflowing_the_stack()
    {
        var body = Encoding.ASCII.GetBytes(new string('[', 1_000_000));
        var options = Options with { MaxBodyBytes = 2_000_000 };
        var r = Assert.IsType<ParseOutcome.Rejected>(TaskParser.Parse(body, TaskMessageHeaders.None, options));
        Assert.StartsWith("body is not valid JSON", r.Reason);

        var balanced = Encoding.ASCII.GetBytes("{\"taskId\":\"t1\",\"args\":" + new string('[', 400_000) + new string(']', 400_000) + "}");
        var deep = Assert.IsType<ParseOutcome.Rejected>(TaskParser.Parse(balanced, TaskMessageHeaders.None, options));
        Assert.Equal("t1", deep.TaskId);
        Assert.StartsWith("body nests deeper than", deep.Reason);
    }
}
