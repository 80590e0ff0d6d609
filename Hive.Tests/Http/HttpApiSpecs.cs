using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Http;

/// <summary>The node's HTTP API against a real node process and real brokers: submit, read, list, control, events, probes, metrics.</summary>
public sealed class HttpApiSpecs(ApiNodeFixture fixture) : IClassFixture<ApiNodeFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private async Task<JsonElement> WaitForStateAsync(string id, Func<string, bool> state)
    {
        var deadline = DateTime.UtcNow + Wait;
        JsonElement last = default;
        while (DateTime.UtcNow < deadline)
        {
            using var response = await fixture.Anonymous.GetAsync($"api/v1/tasks/{id}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                last = await response.Content.ReadFromJsonAsync<JsonElement>();
                if (state(last.GetProperty("state").GetString()!)) return last;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"task {id} did not reach the expected state in {Wait}; last status: {last}\n{fixture.Node.Log}");
    }

    private async Task<string> SubmitAsync(object task)
    {
        using var response = await fixture.Authorized.PostAsJsonAsync("api/v1/tasks", task);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("taskId").GetString()!;
    }

    [Fact]
    public async Task A_task_submitted_through_the_api_runs_and_its_status_and_logs_show_it_succeed()
    {
        var id = HiveTestBus.NewId("api");
        using var response = await fixture.Authorized.PostAsync("api/v1/tasks",
            Json($$"""{"taskId": "{{id}}", "script": "sample", "args": {"steps": 3, "delay": 0.1}, "progressLength": 10}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(id, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("taskId").GetString());

        var final = await WaitForStateAsync(id, s => s is "succeeded" or "failed" or "rejected" or "dead" or "stopped" or "timed-out");
        Assert.Equal("succeeded", final.GetProperty("state").GetString());
        Assert.Equal("sample", final.GetProperty("script").GetString());
        Assert.Equal(fixture.Node.Name, final.GetProperty("node").GetString());

        var logs = await fixture.Anonymous.GetFromJsonAsync<JsonElement>($"api/v1/tasks/{id}/logs");
        Assert.Equal("succeeded", logs.GetProperty("state").GetString());
        Assert.True(logs.GetProperty("lines").GetArrayLength() > 0, logs.ToString());
        Assert.True(logs.GetProperty("totalLines").GetInt64() >= logs.GetProperty("lines").GetArrayLength());

        // Without a taskId the node assigns one.
        var assigned = await SubmitAsync(new { script = "trivial" });
        Assert.Matches("^[0-9a-f]{32}$", assigned);
        Assert.Equal("succeeded", (await WaitForStateAsync(assigned, s => s == "succeeded")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Writes_without_the_token_or_with_a_wrong_one_get_401_and_queue_nothing_while_loopback_reads_stay_open()
    {
        var id = HiveTestBus.NewId("noauth");
        var task = Json($$"""{"taskId": "{{id}}", "script": "trivial"}""");
        using (var anonymous = await fixture.Anonymous.PostAsync("api/v1/tasks", task))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Contains("Bearer", anonymous.Headers.WwwAuthenticate.ToString());
            Assert.Contains("token", (await anonymous.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "api/v1/tasks") { Content = Json($$"""{"taskId": "{{id}}", "script": "trivial"}""") })
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", new string('x', fixture.Token.Length));
            using var answer = await fixture.Anonymous.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        }
        using (var stop = await fixture.Anonymous.PostAsync($"api/v1/tasks/{id}/stop", null))
            Assert.Equal(HttpStatusCode.Unauthorized, stop.StatusCode);

        await Task.Delay(1000);
        using var status = await fixture.Anonymous.GetAsync($"api/v1/tasks/{id}");
        Assert.Equal(HttpStatusCode.NotFound, status.StatusCode);
        Assert.Contains($"no task {id}", (await status.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());

        // The generated token is in a file only the node's user can read.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(fixture.TokenFile));
        Assert.Equal(64, fixture.Token.Length);
        Assert.DoesNotContain(fixture.Token, fixture.Node.Log);
    }

    [Fact]
    public async Task Bad_input_is_refused_with_400_and_a_reason_naming_the_problem_and_a_duplicate_id_with_409()
    {
        async Task<string> Refused(string body, HttpStatusCode expected = HttpStatusCode.BadRequest)
        {
            using var response = await fixture.Authorized.PostAsync("api/v1/tasks", Json(body));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {text}");
            return JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()!;
        }

        Assert.Contains("unknown script 'no-such-script'", await Refused("""{"taskId": "bad-1", "script": "no-such-script"}"""));
        Assert.Contains("not valid JSON", await Refused("""{"taskId": "bad-2", "script": """));
        Assert.Contains("tasks/", await Refused("""{"taskId": "bad-3", "script": "../etc/passwd"}"""));
        Assert.Contains("timeoutSeconds", await Refused("""{"taskId": "bad-4", "script": "trivial", "timeoutSeconds": "soon"}"""));
        Assert.Contains("taskId", await Refused("""{"taskId": "no spaces allowed", "script": "trivial"}"""));
        Assert.Contains("queue", await Refused("""{"taskId": "bad-5", "script": "trivial", "queue": "elsewhere"}"""));

        var id = await SubmitAsync(new { taskId = HiveTestBus.NewId("dup"), script = "trivial" });
        await WaitForStateAsync(id, s => s == "succeeded");
        Assert.Contains("already exists", await Refused($$"""{"taskId": "{{id}}", "script": "trivial"}""", HttpStatusCode.Conflict));

        using var list = await fixture.Anonymous.GetAsync("api/v1/tasks?state=finished");
        Assert.Equal(HttpStatusCode.BadRequest, list.StatusCode);
        Assert.Contains("succeeded", (await list.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        using var control = await fixture.Authorized.PostAsync("api/v1/tasks/..%2Fx/stop", null);
        Assert.Equal(HttpStatusCode.BadRequest, control.StatusCode);
    }

    [Fact]
    public async Task Listing_filters_by_state_script_and_node_and_pages_newest_first()
    {
        var prefix = HiveTestBus.NewId("list");
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await SubmitAsync(new { taskId = $"{prefix}-{i}", script = "trivial" }));
        var failing = await SubmitAsync(new { taskId = $"{prefix}-fail", script = "fail", maxAttempts = 1 });
        foreach (var id in ids) await WaitForStateAsync(id, s => s == "succeeded");
        await WaitForStateAsync(failing, s => s == "failed");

        var failed = await fixture.Anonymous.GetFromJsonAsync<JsonElement>("api/v1/tasks?state=failed&script=fail");
        Assert.Contains(failed.GetProperty("items").EnumerateArray(), t => t.GetProperty("taskId").GetString() == failing);
        Assert.All(failed.GetProperty("items").EnumerateArray(), t => Assert.Equal("failed", t.GetProperty("state").GetString()));

        var trivial = await fixture.Anonymous.GetFromJsonAsync<JsonElement>($"api/v1/tasks?script=trivial&state=succeeded&node={fixture.Node.Name}&limit=500");
        var total = trivial.GetProperty("total").GetInt32();
        Assert.True(total >= 3, trivial.ToString());
        Assert.All(trivial.GetProperty("items").EnumerateArray(), t => Assert.Equal("trivial", t.GetProperty("script").GetString()));
        var updated = trivial.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("updatedAt").GetDateTimeOffset()).ToArray();
        Assert.Equal(updated.OrderByDescending(u => u), updated);

        var first = await fixture.Anonymous.GetFromJsonAsync<JsonElement>("api/v1/tasks?script=trivial&state=succeeded&offset=0&limit=2");
        var second = await fixture.Anonymous.GetFromJsonAsync<JsonElement>("api/v1/tasks?script=trivial&state=succeeded&offset=2&limit=2");
        Assert.Equal(2, first.GetProperty("items").GetArrayLength());
        Assert.Equal(2, first.GetProperty("limit").GetInt32());
        Assert.Equal(2, second.GetProperty("offset").GetInt32());
        var pageIds = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray()).Select(t => t.GetProperty("taskId").GetString()).ToArray();
        Assert.Equal(pageIds.Length, pageIds.Distinct().Count());

        var none = await fixture.Anonymous.GetFromJsonAsync<JsonElement>("api/v1/tasks?node=no-such-node");
        Assert.Equal(0, none.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task A_running_task_is_stopped_through_the_api_and_the_event_feed_shows_it_start_and_finish()
    {
        var id = HiveTestBus.NewId("stop");
        using var cts = new CancellationTokenSource(Wait);
        using var feed = await fixture.Anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"api/v1/events?taskId={id}"),
            HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", feed.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await feed.Content.ReadAsStreamAsync(cts.Token));

        await SubmitAsync(new { taskId = id, script = "sleep", args = new { seconds = 60 } });
        await WaitForStateAsync(id, s => s == "running");
        using (var stop = await fixture.Authorized.PostAsync($"api/v1/tasks/{id}/stop", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
            Assert.Equal("stop", (await stop.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("action").GetString());
        }
        var final = await WaitForStateAsync(id, s => s is "stopped" or "succeeded" or "failed");
        Assert.Equal("stopped", final.GetProperty("state").GetString());
        Assert.Contains("api", final.GetProperty("reason").GetString());

        var events = new List<JsonElement>();
        while (!events.Any(e => e.GetProperty("event").GetString() == "finished"))
        {
            var line = await reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("the event feed ended");
            if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add(JsonDocument.Parse(line[6..]).RootElement.Clone());
        }
        Assert.All(events, e => Assert.Equal(id, e.GetProperty("taskId").GetString()));
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "started" && e.GetProperty("state").GetString() == "running");
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "finished" && e.GetProperty("state").GetString() == "stopped");
        Assert.Matches(@"^\d+-\d+$", events[0].GetProperty("id").GetString());

        // Resuming after an id replays what came after it.
        using var replayCts = new CancellationTokenSource(Wait);
        using var replay = await fixture.Anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"api/v1/events?taskId={id}&from=0"),
            HttpCompletionOption.ResponseHeadersRead, replayCts.Token);
        var replayReader = new StreamReader(await replay.Content.ReadAsStreamAsync(replayCts.Token));
        string? firstData = null;
        while (firstData is null)
        {
            var line = await replayReader.ReadLineAsync(replayCts.Token) ?? throw new EndOfStreamException();
            if (line.StartsWith("data: ", StringComparison.Ordinal)) firstData = line[6..];
        }
        Assert.Equal(id, JsonDocument.Parse(firstData).RootElement.GetProperty("taskId").GetString());
    }

    [Fact]
    public async Task A_task_submitted_while_every_guide_is_busy_reads_queued_at_once_and_its_id_is_taken()
    {
        var busy = new[] { HiveTestBus.NewId("busy"), HiveTestBus.NewId("busy") };
        foreach (var id in busy) await SubmitAsync(new { taskId = id, script = "sleep", args = new { seconds = 60 } });
        foreach (var id in busy) await WaitForStateAsync(id, s => s == "running");

        var waiting = await SubmitAsync(new { taskId = HiveTestBus.NewId("waiting"), script = "trivial" });
        var status = await fixture.Anonymous.GetFromJsonAsync<JsonElement>($"api/v1/tasks/{waiting}");
        using var duplicate = await fixture.Authorized.PostAsync("api/v1/tasks", Json($$"""{"taskId": "{{waiting}}", "script": "trivial"}"""));

        Assert.Equal("queued", status.GetProperty("state").GetString());
        Assert.Contains("waiting for a free guide", status.GetProperty("reason").GetString());
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode); // not published twice while it waits
        foreach (var id in busy)
            using (await fixture.Authorized.PostAsync($"api/v1/tasks/{id}/stop", null)) { }
        Assert.Equal("succeeded", (await WaitForStateAsync(waiting, s => s == "succeeded")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task The_cli_with_api_submits_watches_and_reads_status_through_the_http_api_and_reports_a_refusal()
    {
        var api = fixture.BaseAddress.ToString();
        var id = HiveTestBus.NewId("cliapi");
        var (exit, output) = await HiveCliRunner.RunAsync(fixture.Brokers, "--api", api, "--token", fixture.Token,
            "submit", "sample", "--args", "{\"steps\":2,\"delay\":0.1}", "--id", id, "--watch");
        Assert.True(exit == 0, output);
        Assert.StartsWith(id, output.Trim());
        Assert.Contains("succeeded", output);

        var (statusExit, status) = await HiveCliRunner.RunAsync(fixture.Brokers, "--api", api, "status", id);
        Assert.True(statusExit == 0, status);
        Assert.Equal("succeeded", JsonDocument.Parse(status).RootElement.GetProperty("state").GetString());

        var (refusedExit, refused) = await HiveCliRunner.RunAsync(fixture.Brokers, "--api", api, "--token", "wrong-token-0123456789", "submit", "trivial");
        Assert.Equal(2, refusedExit);
        Assert.Contains("401", refused);
    }

    [Fact]
    public async Task Probes_nodes_metrics_and_the_openapi_document_are_served()
    {
        Assert.Equal(HttpStatusCode.OK, (await fixture.Anonymous.GetAsync("healthz")).StatusCode);
        using var ready = await fixture.Anonymous.GetAsync("readyz");
        var readyBody = await ready.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(ready.StatusCode == HttpStatusCode.OK, readyBody.ToString());
        foreach (var check in new[] { "rabbitmq", "redis", "cluster" })
            Assert.True(readyBody.GetProperty("checks").GetProperty(check).GetProperty("up").GetBoolean(), readyBody.ToString());

        var nodes = await fixture.Anonymous.GetFromJsonAsync<JsonElement>("api/v1/nodes");
        var node = nodes.EnumerateArray().Single(n => n.GetProperty("node").GetString() == fixture.Node.Name);
        Assert.Equal(2, node.GetProperty("guides").GetArrayLength());
        Assert.All(node.GetProperty("guides").EnumerateArray(), g => Assert.False(string.IsNullOrEmpty(g.GetProperty("state").GetString())));

        await WaitForStateAsync(await SubmitAsync(new { script = "trivial" }), s => s == "succeeded");
        var metrics = await fixture.Anonymous.GetStringAsync("metrics");
        foreach (var name in new[]
                 {
                     "hive_tasks_finished_total{state=\"succeeded\"}", "hive_task_duration_seconds_bucket", "hive_task_queue_wait_seconds_count",
                     "hive_guides_busy", "hive_guides_free 2", "hive_callback_failures_total", "hive_journal_write_duration_seconds_count",
                 })
            Assert.Contains(name, metrics);

        var openApi = await fixture.Anonymous.GetFromJsonAsync<JsonElement>("openapi/v1.json");
        var paths = openApi.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/tasks", "/api/v1/tasks/{id}", "/api/v1/tasks/{id}/stop", "/api/v1/events", "/api/v1/nodes", "/readyz" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} missing from {paths}");
    }
}
