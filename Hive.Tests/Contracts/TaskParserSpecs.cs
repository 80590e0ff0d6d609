using System.Text;
using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class TaskParserSpecs
{
    [Fact]
    public void A_full_hive_task_message_is_accepted_with_every_field()
    {
        var spec = Accepted("""
            {"taskId":"b7c1-42","script":"transcode","args":{"input":"a.mp4","sizes":[1,2]},
             "acceptUrl":"http://backend:8080/accepted","responseUrl":"https://backend/done",
             "timeoutSeconds":3600,"maxAttempts":5,"loop":3,"interval":1.5,"progressLength":50,"resultLength":4,
             "someFutureField":{"ignored":true}}
            """, new TaskMessageHeaders("msg-1", "corr-1", "amq.rabbitmq.reply-to.x", "hive.tasks"));

        Assert.Equal("b7c1-42", spec.TaskId);
        Assert.Equal("transcode", spec.Script);
        Assert.Null(spec.Command);
        Assert.Equal("""{"input":"a.mp4","sizes":[1,2]}""", Canon(spec.Args));
        Assert.Equal("http://backend:8080/accepted", spec.AcceptUrl);
        Assert.Equal("https://backend/done", spec.ResponseUrl);
        Assert.Equal(3600, spec.TimeoutSeconds);
        Assert.Equal(TimeSpan.FromHours(1), spec.Timeout);
        Assert.Equal(5, spec.MaxAttempts);
        Assert.Equal(3, spec.Loop);
        Assert.Equal(1.5, spec.IntervalSeconds);
        Assert.Equal(50, spec.ProgressLength);
        Assert.Equal(4, spec.ResultLength);
        Assert.Equal("amq.rabbitmq.reply-to.x", spec.ReplyTo);
        Assert.Equal("hive.tasks", spec.Queue);
        Assert.Equal(TaskShape.Hive, spec.Shape);
        Assert.Null(spec.Seed);
    }

    [Fact]
    public void A_minimal_hive_task_gets_the_node_defaults_and_empty_args()
    {
        var spec = Accepted("""{"taskId":"t1","script":"transcode"}""");

        Assert.Equal("{}", Canon(spec.Args));
        Assert.Null(spec.AcceptUrl);
        Assert.Null(spec.ResponseUrl);
        Assert.Null(spec.TimeoutSeconds);
        Assert.Equal(3, spec.MaxAttempts);
        Assert.Equal(1, spec.Loop);
        Assert.Equal(0, spec.IntervalSeconds);
        Assert.Equal(20, spec.ProgressLength);
        Assert.Equal(1, spec.ResultLength);
        Assert.Null(spec.ReplyTo);
        Assert.Null(spec.Queue);
    }

    [Fact]
    public void Args_outlive_the_message_buffer_they_were_parsed_from()
    {
        var body = Encoding.UTF8.GetBytes("""{"taskId":"t1","script":"transcode","args":{"input":"a.mp4"}}""");
        var spec = Assert.IsType<ParseOutcome.Accepted>(TaskParser.Parse(body, TaskMessageHeaders.None, Options)).Spec;
        Array.Clear(body);
        GC.Collect();

        Assert.Equal("a.mp4", spec.Args.GetProperty("input").GetString());
    }

    [Theory]
    [InlineData("""{"taskId":"t1","script":"transcode","args":null}""")]
    [InlineData("""{"taskId":"t1","script":"transcode","acceptUrl":null,"timeoutSeconds":null,"loop":null}""")]
    public void Explicit_nulls_count_as_absent(string json)
    {
        var spec = Accepted(json);
        Assert.Equal("{}", Canon(spec.Args));
        Assert.Null(spec.AcceptUrl);
        Assert.Null(spec.TimeoutSeconds);
        Assert.Equal(1, spec.Loop);
    }

    [Fact]
    public void Args_may_be_any_json_value()
    {
        Assert.Equal("[1,\"two\"]", Canon(Accepted("""{"taskId":"t1","script":"transcode","args":[1,"two"]}""").Args));
        Assert.Equal("\"plain\"", Canon(Accepted("""{"taskId":"t1","script":"transcode","args":"plain"}""").Args));
    }

    [Fact]
    public void A_body_over_the_limit_is_rejected_with_both_sizes()
    {
        var options = Options with { MaxBodyBytes = 1048576 };
        var body = new byte[2_000_000];
        var r = Assert.IsType<ParseOutcome.Rejected>(TaskParser.Parse(body, new TaskMessageHeaders("m-1", null, null, null), options));

        Assert.Equal("body is 2000000 bytes; the limit is 1048576", r.Reason);
        Assert.Equal("m-1", r.TaskId);
    }

    [Theory]
    [InlineData("""{"taskId":"t1","script":""", "body is not valid JSON")]
    [InlineData("not json at all", "body is not valid JSON")]
    [InlineData("""{"taskId":"t1","script":"transcode"} trailing""", "body is not valid JSON")]
    [InlineData("   ", "body is empty")]
    [InlineData("", "body is empty")]
    [InlineData("""["t1","transcode"]""", "body is a JSON array; expected an object")]
    [InlineData("\"t1\"", "body is a JSON string; expected an object")]
    [InlineData("42", "body is a JSON number; expected an object")]
    public void Bodies_that_are_not_json_objects_are_rejected(string body, string reasonStart)
    {
        var r = Rejected(body);
        Assert.StartsWith(reasonStart, r.Reason);
        Assert.Null(r.TaskId);
    }

    [Fact]
    public void A_body_that_is_not_json_still_carries_the_amqp_message_id()
    {
        var r = Rejected("{oops", new TaskMessageHeaders("m-7", "c-7", null, null));
        Assert.StartsWith("body is not valid JSON: ", r.Reason);
        Assert.Equal("m-7", r.TaskId);
    }

    [Fact]
    public void A_missing_task_id_is_rejected_naming_the_field_and_the_fallbacks()
    {
        var r = Rejected("""{"script":"transcode"}""");
        Assert.Null(r.TaskId);
        Assert.Equal("taskId is missing: give taskId in the body, or an AMQP message-id or correlation-id", r.Reason);
    }

    [Fact]
    public void The_task_id_falls_back_to_the_amqp_message_id()
    {
        var spec = Accepted("""{"script":"transcode"}""", new TaskMessageHeaders("msg-9", "corr-9", null, null));
        Assert.Equal("msg-9", spec.TaskId);
    }

    [Fact]
    public void The_task_id_falls_back_to_the_correlation_id_when_there_is_no_message_id()
    {
        var spec = Accepted("""{"script":"transcode"}""", new TaskMessageHeaders(null, "corr-9", null, null));
        Assert.Equal("corr-9", spec.TaskId);
    }

    [Fact]
    public void The_body_task_id_wins_over_the_amqp_ids()
    {
        var spec = Accepted("""{"taskId":"body-id","script":"transcode"}""", new TaskMessageHeaders("msg-9", "corr-9", null, null));
        Assert.Equal("body-id", spec.TaskId);
    }

    [Theory]
    [InlineData("""{"taskId":"has space","script":"transcode"}""", "taskId 'has space' is not a valid task id")]
    [InlineData("""{"taskId":"a/b","script":"transcode"}""", "taskId 'a/b' is not a valid task id")]
    [InlineData("""{"taskId":"","script":"transcode"}""", "taskId '' is not a valid task id")]
    [InlineData("""{"taskId":42,"script":"transcode"}""", "taskId must be a string; got 42")]
    [InlineData("""{"taskId":{"id":1},"script":"transcode"}""", "taskId must be a string; got an object")]
    public void Invalid_task_ids_are_rejected_without_an_id(string json, string reasonStart)
    {
        var r = Rejected(json);
        Assert.StartsWith(reasonStart, r.Reason);
        Assert.Null(r.TaskId);
    }

    [Fact]
    public void A_task_id_longer_than_128_characters_is_rejected_and_128_is_fine()
    {
        Assert.Equal(new string('a', 128), Accepted($$"""{"taskId":"{{new string('a', 128)}}","script":"transcode"}""").TaskId);
        var r = Rejected($$"""{"taskId":"{{new string('a', 129)}}","script":"transcode"}""");
        Assert.Contains("is not a valid task id", r.Reason);
    }

    [Fact]
    public void Ids_allow_letters_digits_and_the_separators_underscore_dot_colon_dash()
    {
        Assert.Equal("Job_1.2:3-x", Accepted("""{"taskId":"Job_1.2:3-x","script":"transcode"}""").TaskId);
    }

    [Fact]
    public void An_invalid_amqp_message_id_is_named_in_the_reason()
    {
        var r = Rejected("""{"script":"transcode"}""", new TaskMessageHeaders("bad id", null, null, null));
        Assert.StartsWith("taskId is missing and the AMQP message-id 'bad id' is not a valid task id", r.Reason);
        Assert.Null(r.TaskId);
    }

    [Fact]
    public void An_unknown_script_is_rejected_with_the_catalog_reason_and_the_task_id()
    {
        var r = Rejected("""{"taskId":"t1","script":"nope"}""");
        Assert.Equal("t1", r.TaskId);
        Assert.Equal("script 'nope': is not in tasks/ on this node", r.Reason);
    }

    [Fact]
    public void The_catalog_is_asked_with_the_exact_script_name()
    {
        var asked = new List<string>();
        var options = Options with { CheckScript = name => { asked.Add(name); return ScriptCheck.Runnable(null); } };
        Accepted("""{"taskId":"t1","script":"stats.v2"}""", options: options);
        Assert.Equal(["stats.v2"], asked);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("a..b")]
    [InlineData(".hidden")]
    [InlineData("a\\\\b")]
    public void Script_names_that_would_leave_tasks_are_rejected_before_the_catalog_is_asked(string name)
    {
        var asked = false;
        var options = Options with { CheckScript = _ => { asked = true; return ScriptCheck.Runnable(null); } };
        var r = Rejected($$"""{"taskId":"t1","script":"{{name}}"}""", options: options);

        Assert.Equal("t1", r.TaskId);
        Assert.StartsWith("script '", r.Reason);
        Assert.Contains("tasks/", r.Reason);
        Assert.False(asked);
    }

    [Theory]
    [InlineData("has space", "use only letters, digits")]
    [InlineData("-dash-first", "must start with a letter or digit")]
    [InlineData("", "script is empty")]
    [InlineData("naïve", "use only letters, digits")]
    public void Script_names_with_other_characters_are_rejected(string name, string reasonPart)
    {
        var r = Rejected($$"""{"taskId":"t1","script":"{{name}}"}""");
        Assert.Contains(reasonPart, r.Reason);
        Assert.Contains("tasks/", r.Reason);
    }

    [Fact]
    public void Script_names_longer_than_128_characters_are_rejected()
    {
        var r = Rejected($$"""{"taskId":"t1","script":"{{new string('s', 129)}}"}""");
        Assert.Equal("script is 129 characters; a script name in tasks/ has at most 128", r.Reason);
    }

    [Fact]
    public void A_task_without_script_or_command_is_rejected()
    {
        var r = Rejected("""{"taskId":"t1","args":{}}""");
        Assert.Equal("t1", r.TaskId);
        Assert.Equal("script is missing: name a script in tasks/ (or a command where commands are allowed)", r.Reason);
    }

    [Fact]
    public void A_command_is_rejected_where_commands_are_off_and_accepted_where_on()
    {
        const string json = """{"taskId":"t1","command":"echo hi"}""";
        Assert.Equal("command is disabled on this node (hive.tasks.allow-commands = off)", Rejected(json).Reason);
        var spec = Accepted(json, options: CommandsAllowed);
        Assert.Equal("echo hi", spec.Command);
        Assert.Null(spec.Script);
        Assert.Equal("command", spec.ScriptOrCommand);
    }

    [Fact]
    public void A_task_with_both_script_and_command_is_rejected()
    {
        var r = Rejected("""{"taskId":"t1","script":"transcode","command":"echo"}""", options: CommandsAllowed);
        Assert.Equal("script and command are both given; give one of them", r.Reason);
    }

    [Theory]
    [InlineData("\"script\":42", "script must be a string; got 42")]
    [InlineData("\"script\":[\"transcode\"]", "script must be a string; got an array")]
    [InlineData("\"timeoutSeconds\":0", "timeoutSeconds must be an integer from 1 to 604800 (7 days); got 0")]
    [InlineData("\"timeoutSeconds\":-5", "timeoutSeconds must be an integer from 1 to 604800 (7 days); got -5")]
    [InlineData("\"timeoutSeconds\":604801", "timeoutSeconds must be an integer from 1 to 604800 (7 days); got 604801")]
    [InlineData("\"timeoutSeconds\":1.5", "timeoutSeconds must be an integer from 1 to 604800 (7 days); got 1.5")]
    [InlineData("\"timeoutSeconds\":\"30\"", "timeoutSeconds must be an integer from 1 to 604800 (7 days); got the string '30'")]
    [InlineData("\"timeoutSeconds\":true", "timeoutSeconds must be an integer from 1 to 604800 (7 days); got true")]
    [InlineData("\"maxAttempts\":0", "maxAttempts must be an integer from 1 to 100; got 0")]
    [InlineData("\"maxAttempts\":101", "maxAttempts must be an integer from 1 to 100; got 101")]
    [InlineData("\"loop\":0", "loop must be -1 (run forever) or an integer >= 1; got 0")]
    [InlineData("\"loop\":-2", "loop must be -1 (run forever) or an integer >= 1; got -2")]
    [InlineData("\"loop\":\"many\"", "loop must be -1 (run forever) or an integer >= 1; got the string 'many'")]
    [InlineData("\"interval\":-1", "interval must be a number of seconds from 0 to 604800; got -1")]
    [InlineData("\"interval\":\"1\"", "interval must be a number of seconds from 0 to 604800; got the string '1'")]
    [InlineData("\"progressLength\":-1", "progressLength must be an integer from 0 to 1000; got -1")]
    [InlineData("\"progressLength\":1001", "progressLength must be an integer from 0 to 1000; got 1001")]
    [InlineData("\"resultLength\":-1", "resultLength must be an integer from 0 to 1000; got -1")]
    [InlineData("\"resultLength\":1001", "resultLength must be an integer from 0 to 1000; got 1001")]
    [InlineData("\"acceptUrl\":\"/relative\"", "acceptUrl must be an absolute http(s) URL; got a relative or malformed URL")]
    [InlineData("\"acceptUrl\":\"ftp://host/x\"", "acceptUrl must be an absolute http(s) URL; got scheme 'ftp'")]
    [InlineData("\"acceptUrl\":5", "acceptUrl must be an absolute http(s) URL string; got 5")]
    [InlineData("\"responseUrl\":\"file:///etc/passwd\"", "responseUrl must be an absolute http(s) URL; got scheme 'file'")]
    [InlineData("\"responseUrl\":\"not a url\"", "responseUrl must be an absolute http(s) URL; got a relative or malformed URL")]
    public void Fields_of_the_wrong_type_or_range_are_rejected_naming_the_field(string field, string reason)
    {
        var r = Rejected($$"""{"taskId":"t1","script":"transcode",{{field}}}""".Replace("\"script\":\"transcode\",\"script\"", "\"script\""));
        Assert.Equal("t1", r.TaskId);
        Assert.Equal(reason, r.Reason);
    }

    [Theory]
    [InlineData("\"loop\":-1", -1)]
    [InlineData("\"loop\":1", 1)]
    [InlineData("\"loop\":1000000", 1000000)]
    public void Loop_accepts_minus_one_and_positive_counts(string field, int loop) =>
        Assert.Equal(loop, Accepted($$"""{"taskId":"t1","script":"transcode",{{field}}}""").Loop);

    [Fact]
    public void Boundary_values_are_accepted()
    {
        var spec = Accepted("""
            {"taskId":"t1","script":"transcode","timeoutSeconds":604800,"maxAttempts":100,"interval":0,
             "progressLength":0,"resultLength":1000}
            """);
        Assert.Equal(604800, spec.TimeoutSeconds);
        Assert.Equal(100, spec.MaxAttempts);
        Assert.Equal(0, spec.ProgressLength);
        Assert.Equal(1000, spec.ResultLength);
    }

    [Fact]
    public void An_empty_callback_url_means_no_callback()
    {
        var spec = Accepted("""{"taskId":"t1","script":"transcode","acceptUrl":"","responseUrl":""}""");
        Assert.Null(spec.AcceptUrl);
        Assert.Null(spec.ResponseUrl);
    }

    [Fact]
    public void Args_nested_deeper_than_the_limit_are_rejected_with_the_task_id()
    {
        var options = Options with { MaxArgsDepth = 3 };
        Accepted("""{"taskId":"t1","script":"transcode","args":{"a":{"b":{"c":1}}}}""", options: options);

        var r = Rejected("""{"taskId":"t1","script":"transcode","args":{"a":{"b":{"c":{"d":1}}}}}""", options: options);
        Assert.Equal("t1", r.TaskId);
        Assert.Equal("args nests 4 levels deep; the limit is 3 (hive.tasks.max-args-depth)", r.Reason);
    }

    [Fact]
    public void A_body_nested_far_beyond_the_limit_is_rejected_as_too_deep_not_as_bad_json()
    {
        var options = Options with { MaxArgsDepth = 4 };
        var deep = new string('[', 5000) + new string(']', 5000);
        var r = Rejected($$"""{"taskId":"deep-1","script":"transcode","args":{{deep}}}""", options: options);

        Assert.Equal("deep-1", r.TaskId);
        Assert.Equal("body nests deeper than 7 levels; args may nest at most 4 levels (hive.tasks.max-args-depth)", r.Reason);
    }

    [Fact]
    public void Deep_nesting_in_an_ignored_field_is_still_bounded()
    {
        var options = Options with { MaxArgsDepth = 2 };
        var r = Rejected("""{"taskId":"t1","script":"transcode","extra":[[[[[[[1]]]]]]]}""", options: options);
        Assert.StartsWith("body nests deeper than 5 levels", r.Reason);
        Assert.Equal("t1", r.TaskId);
    }

    [Fact]
    public void Reply_to_and_queue_come_from_the_amqp_properties_before_the_body()
    {
        var spec = Accepted("""{"taskId":"t1","script":"transcode","replyTo":"body-reply","queue":"body-queue"}""",
            new TaskMessageHeaders(null, null, "amqp-reply", "amqp-queue"));
        Assert.Equal("amqp-reply", spec.ReplyTo);
        Assert.Equal("amqp-queue", spec.Queue);

        var fromBody = Accepted("""{"taskId":"t1","script":"transcode","replyTo":"body-reply","queue":"body-queue"}""");
        Assert.Equal("body-reply", fromBody.ReplyTo);
        Assert.Equal("body-queue", fromBody.Queue);
    }

    [Fact]
    public void User_values_echoed_in_reasons_are_truncated_and_stripped_of_control_characters()
    {
        var r = Rejected($$"""{"taskId":"t1","script":"transcode","timeoutSeconds":"{{new string('x', 300)}}\n"}""");
        Assert.True(r.Reason.Length < 200, r.Reason);
        Assert.DoesNotContain("\n", r.Reason);
    }

    [Fact]
    public void The_spec_does_not_print_the_command_line_or_callback_paths()
    {
        var spec = Accepted("""{"taskId":"t1","command":"curl -u admin:hunter2 http://x","responseUrl":"https://user:pw@backend/done?token=s3cret"}""",
            options: CommandsAllowed);
        var text = spec.ToString();
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("s3cret", text);
        Assert.DoesNotContain("pw@", text);
        Assert.Contains("backend", text);
    }
}
