using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Tests.Integration;
using Microsoft.Playwright;
using StackExchange.Redis;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Hive.Tests.Dashboard;

/// <summary>
/// The dashboard every node serves, driven in real headless Chromium (Debian's) through Playwright against a real node
/// and real brokers: log in, watch nodes and guides, submit from the form, watch progress move, pause, resume and stop.
/// </summary>
public sealed class DashboardSpecs(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    /// <summary>Set to a file path to write the two-running-tasks screenshot there (docs/dashboard.png is made so).</summary>
    public const string ScreenshotVariable = "HIVE_DASHBOARD_SCREENSHOT";

    private HttpClient Client(bool authorized = true)
    {
        var client = new HttpClient { BaseAddress = fixture.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (authorized) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Token);
        return client;
    }

    private async Task<string> SubmitAsync(object task)
    {
        using var client = Client();
        using var response = await client.PostAsJsonAsync("api/v1/tasks", task);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("taskId").GetString()!;
    }

    private async Task LogInAsync(IPage page)
    {
        await Expect(page.Locator("#login")).ToBeVisibleAsync();
        await page.FillAsync("#login-token", fixture.Token);
        await page.ClickAsync("#login-form button[type=submit]");
        await Expect(page.Locator("#login")).ToBeHiddenAsync();
    }

    /// <summary>Polls the bar's aria-valuenow until <paramref name="wanted"/> holds; the value it saw.</summary>
    private static async Task<double> WaitForProgressAsync(ILocator bar, Func<double, bool> wanted, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        string? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await bar.GetAttributeAsync("aria-valuenow");
            if (last is not null && double.TryParse(last, CultureInfo.InvariantCulture, out var value) && wanted(value)) return value;
            await Task.Delay(100);
        }
        throw new TimeoutException($"the progress bar never showed {what}; last aria-valuenow: {last ?? "(none)"}");
    }

    [Fact]
    public async Task The_page_and_its_assets_are_public_with_a_strict_content_security_policy_while_the_api_behind_it_needs_the_token()
    {
        using var anonymous = Client(authorized: false);
        foreach (var path in new[] { "/", "/dashboard" })
        {
            using var page = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            var csp = page.Headers.GetValues("Content-Security-Policy").Single();
            Assert.Contains("script-src 'self'", csp);
            Assert.Contains("frame-ancestors 'none'", csp);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains(WebUtility.HtmlEncode(fixture.TokenFile), html);
            Assert.Contains($"content=\"{fixture.Node.Name}\"", html);
            Assert.DoesNotContain(fixture.Token, html);
        }

        using var script = await anonymous.GetAsync("/dashboard/assets/dashboard.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var code = await script.Content.ReadAsStringAsync();
        foreach (var sink in new[] { ".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(" })
            Assert.DoesNotContain(sink, code);
        using (var revalidate = new HttpRequestMessage(HttpMethod.Get, "/dashboard/assets/dashboard.js"))
        {
            revalidate.Headers.IfNoneMatch.Add(script.Headers.ETag!);
            using var notModified = await anonymous.SendAsync(revalidate);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        }
        using (var missing = await anonymous.GetAsync("/dashboard/assets/nothing.js"))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        using (var anonymousCheck = await anonymous.PostAsync("api/v1/auth/check", null))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymousCheck.StatusCode);
        using var authorized = Client();
        using (var check = await authorized.PostAsync("api/v1/auth/check", null))
            Assert.Equal(HttpStatusCode.NoContent, check.StatusCode);
    }

    [Fact]
    public async Task A_task_submitted_from_the_page_shows_moving_progress_and_is_paused_resumed_and_stopped_from_its_detail_view()
    {
        var page = await fixture.OpenDashboardAsync();
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);

        // The login box names the token file; a wrong token is refused there, the right one is kept for the tab.
        await Expect(page.Locator("#login")).ToBeVisibleAsync();
        await Expect(page.Locator("#login .hint")).ToContainTextAsync(fixture.TokenFile);
        await page.FillAsync("#login-token", "not-the-token-of-this-node");
        await page.ClickAsync("#login-form button[type=submit]");
        await Expect(page.Locator("#login-error")).ToContainTextAsync("not the node's API token");
        await page.FillAsync("#login-token", fixture.Token);
        await page.ClickAsync("#login-form button[type=submit]");
        await Expect(page.Locator("#login")).ToBeHiddenAsync();
        await Expect(page.Locator("#auth-status")).ToHaveTextAsync("token set");
        await Expect(page.Locator("#feed-status")).ToHaveAttributeAsync("data-state", "live");

        // The node and its three guides.
        var node = page.Locator($".node[data-node='{fixture.Node.Name}']");
        await Expect(node.Locator(".guide")).ToHaveCountAsync(3);

        // Submit a ticker from the form: it shows up running, and its bar moves.
        var id = HiveTestBus.NewId("dash");
        await page.ClickAsync("#new-task-open");
        await page.FillAsync("#submit-form [name=script]", "ticker");
        await page.FillAsync("#submit-form [name=taskId]", id);
        await page.FillAsync("#submit-form [name=args]", """{"ticks": 600, "interval": 0.05}""");
        await page.ClickAsync("#submit-form button[type=submit]");
        await Expect(page.Locator("#submit-result")).ToHaveTextAsync($"Queued {id}");

        var row = page.Locator($"#task-rows tr[data-task-id='{id}']");
        await Expect(row.Locator(".state")).ToHaveTextAsync("running");
        var bar = row.Locator("[role=progressbar]");
        var first = await WaitForProgressAsync(bar, v => v > 0, "any progress");
        await WaitForProgressAsync(bar, v => v >= first + 2, $"progress beyond {first + 2}%");
        await Expect(row).ToContainTextAsync("tick");
        await Expect(node.Locator($".guide[data-state=running] a", new() { HasText = id })).ToBeVisibleAsync();
        await Expect(page.Locator("#events li", new() { HasText = id }).First).ToBeVisibleAsync();

        // Its detail: status fields, output lines, history from the event feed.
        await page.ClickAsync("#detail-close");
        await Expect(page.Locator("#detail")).ToBeHiddenAsync();
        await row.Locator(".task-id").ClickAsync();
        var detail = page.Locator("#detail");
        await Expect(detail.Locator("#detail-id")).ToHaveTextAsync(id);
        await Expect(detail.Locator("#detail-state .state")).ToHaveTextAsync("running");
        await Expect(detail.Locator("#detail-fields")).ToContainTextAsync(fixture.Node.Name);
        await Expect(detail.Locator("#detail-lines")).ToContainTextAsync("tick");
        await Expect(detail.Locator("#detail-history li[data-event=started]")).ToHaveCountAsync(1);

        // Pause and resume from the detail view.
        await detail.Locator("[data-action=pause]").ClickAsync();
        await Expect(detail.Locator("#detail-state .state")).ToHaveTextAsync("paused");
        await Expect(row.Locator(".state")).ToHaveTextAsync("paused");
        await detail.Locator("[data-action=resume]").ClickAsync();
        await Expect(detail.Locator("#detail-state .state")).ToHaveTextAsync("running");

        // Stop: the task ends stopped, leaves the running tab and is listed under stopped.
        await detail.Locator("[data-action=stop]").ClickAsync();
        await Expect(detail.Locator("#detail-state .state")).ToHaveTextAsync("stopped");
        await Expect(detail.Locator("#detail-history li[data-event=finished]")).ToContainTextAsync("stopped");
        await Expect(detail.Locator("[data-action=stop]")).ToBeDisabledAsync();
        await Expect(row).ToHaveCountAsync(0);
        await page.ClickAsync("#tabs [data-tab=stopped]");
        await Expect(page.Locator($"#task-rows tr[data-task-id='{id}'] .state")).ToHaveTextAsync("stopped");
        await Expect(page.Locator("[data-count=stopped]")).Not.ToHaveTextAsync("0");

        Assert.Empty(errors);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Task_provided_text_is_shown_as_text_and_never_interpreted_as_html()
    {
        // What scripts and nodes write reaches the page through Redis: put markup in every such field of a status
        // document and of an event, as a hostile script's output, stage, result or a reason would.
        const string Markup = "<img src=x onerror=\"window.__pwned=1\"><b>bold</b>";
        var id = HiveTestBus.NewId("xss");
        var now = DateTimeOffset.UtcNow;
        using var result = JsonDocument.Parse(JsonSerializer.Serialize(new { html = Markup }));
        var doc = new TaskStatusDocument(id, "ticker", TaskState.Failed, fixture.Node.Name, "1", 1, 40, Markup,
            ["plain line", Markup], 2, now.AddSeconds(-5), now.AddSeconds(-4), now, 3, Markup, result.RootElement.Clone(), null);
        using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Brokers.Redis.ConnectionString);
        var page = await fixture.OpenDashboardAsync();
        await LogInAsync(page);
        await Expect(page.Locator("#feed-status")).ToHaveAttributeAsync("data-state", "live");
        await redis.GetDatabase().StringSetAsync(RedisKeys.Task(id), TaskStatusJson.ToJson(doc), TimeSpan.FromMinutes(5));
        await redis.GetDatabase().StreamAddAsync(RedisKeys.Events,
            [new("event", "finished"), new("taskId", id), new("state", "failed"), new("node", fixture.Node.Name), new("attempt", 1), new("reason", Markup)]);

        await Expect(page.Locator("#events li", new() { HasText = id })).ToContainTextAsync(Markup);
        await page.ClickAsync("#tabs [data-tab=failed]");
        var row = page.Locator($"#task-rows tr[data-task-id='{id}']");
        await Expect(row).ToContainTextAsync(Markup);
        await row.Locator(".task-id").ClickAsync();
        await Expect(page.Locator("#detail-lines")).ToContainTextAsync(Markup);
        await Expect(page.Locator("#detail-fields")).ToContainTextAsync(Markup);
        await Expect(page.Locator("#detail-result")).ToContainTextAsync("<img src=x");
        await Expect(page.Locator("#detail-history li[data-event=finished]")).ToContainTextAsync(Markup);
        Assert.Equal(0, await page.Locator("#task-rows :is(img, b), #detail :is(img, b), #events :is(img, b)").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__pwned === undefined"));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Two_running_tasks_show_their_progress_side_by_side_in_a_screenshot()
    {
        // Some history for the other tabs, then two tickers at different speeds.
        var succeeded = await SubmitAsync(new { taskId = HiveTestBus.NewId("thumbnails"), script = "sample", args = new { steps = 3, delay = 0.05 } });
        var failed = await SubmitAsync(new { taskId = HiveTestBus.NewId("cleanup"), script = "fail", maxAttempts = 1 });
        var page = await fixture.OpenDashboardAsync(height: 820);
        await LogInAsync(page);
        await page.ClickAsync("#tabs [data-tab=all]");
        await Expect(page.Locator($"#task-rows tr[data-task-id='{failed}'] .state")).ToHaveTextAsync("failed");
        await Expect(page.Locator($"#task-rows tr[data-task-id='{succeeded}'] .state")).ToHaveTextAsync("succeeded");

        var fast = await SubmitAsync(new { taskId = HiveTestBus.NewId("transcode"), script = "ticker", args = new { ticks = 100, interval = 0.1 } });
        var slow = await SubmitAsync(new { taskId = HiveTestBus.NewId("report"), script = "ticker", args = new { ticks = 400, interval = 0.1 } });
        try
        {
            var fastRow = page.Locator($"#task-rows tr[data-task-id='{fast}']");
            var slowRow = page.Locator($"#task-rows tr[data-task-id='{slow}']");
            await WaitForProgressAsync(fastRow.Locator("[role=progressbar]"), v => v >= 30, "30% on the fast ticker");
            await WaitForProgressAsync(slowRow.Locator("[role=progressbar]"), v => v > 0, "progress on the slow ticker");
            await slowRow.Locator(".task-id").ClickAsync();
            await Expect(page.Locator("#detail-lines")).ToContainTextAsync("tick");
            await Expect(page.Locator("#task-rows tr .state", new() { HasText = "running" })).ToHaveCountAsync(2);
            await Expect(page.Locator($".node[data-node='{fixture.Node.Name}'] .guide[data-state=running]")).ToHaveCountAsync(2);
            await Task.Delay(300); // let the bars' width transition settle

            var path = Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } wanted
                ? Path.GetFullPath(wanted)
                : Path.Combine(Path.GetTempPath(), $"hive-dashboard-{Guid.NewGuid():N}.png");
            var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, Animations = ScreenshotAnimations.Disabled });
            Assert.True(png.Length > 10_000, $"the screenshot is only {png.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            if (Environment.GetEnvironmentVariable(ScreenshotVariable) is not { Length: > 0 }) File.Delete(path);
        }
        finally
        {
            using var client = Client();
            foreach (var id in new[] { fast, slow })
                (await client.PostAsync($"api/v1/tasks/{id}/stop", null)).Dispose();
            await page.Context.CloseAsync();
        }
    }
}
