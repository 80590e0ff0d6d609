using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Hive.Tests.Integration;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Hive.Tests.Dashboard;

/// <summary>A node listening beyond loopback with a configured token: reads need the token too.</summary>
public sealed class RemoteDashboardFixture() : DashboardFixture(RemoteDashboardSpecs.Token);

/// <summary>
/// The dashboard of a node whose API listens beyond loopback: the page loads without the token but shows nothing until
/// it has it, and then follows the event feed with it (EventSource could not send it: the page reads SSE through fetch).
/// </summary>
public sealed class RemoteDashboardSpecs(RemoteDashboardFixture fixture) : IClassFixture<RemoteDashboardFixture>
{
    public const string Token = "dashboard-specs-token-0123456789abcdef";

    [Fact]
    public async Task Beyond_loopback_the_page_loads_without_the_token_but_shows_tasks_nodes_and_live_events_only_with_it()
    {
        using (var anonymous = new HttpClient { BaseAddress = fixture.BaseAddress })
        {
            using var page = await anonymous.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("configured token", await page.Content.ReadAsStringAsync());
            using var tasks = await anonymous.GetAsync("api/v1/tasks");
            Assert.Equal(HttpStatusCode.Unauthorized, tasks.StatusCode);
        }

        var browser = await fixture.OpenDashboardAsync();
        await Expect(browser.Locator("#login")).ToBeVisibleAsync();
        await Expect(browser.Locator("#login-skip")).ToBeHiddenAsync(); // no read-only mode: reads need the token here
        await Expect(browser.Locator("#login .hint")).ToContainTextAsync("hive.http.token");
        await Expect(browser.Locator("#feed-status")).ToHaveAttributeAsync("data-state", "denied");
        await Expect(browser.Locator(".node")).ToHaveCountAsync(0);

        await browser.FillAsync("#login-token", Token);
        await browser.ClickAsync("#login-form button[type=submit]");
        await Expect(browser.Locator("#login")).ToBeHiddenAsync();
        await Expect(browser.Locator($".node[data-node='{fixture.Node.Name}'] .guide")).ToHaveCountAsync(3);
        await Expect(browser.Locator("#feed-status")).ToHaveAttributeAsync("data-state", "live");
        await Expect(browser.Locator("#banner")).ToBeHiddenAsync();

        using var client = new HttpClient { BaseAddress = fixture.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var submitted = await client.PostAsJsonAsync("api/v1/tasks", new { taskId = HiveTestBus.NewId("remote"), script = "ticker", args = new { ticks = 20, interval = 0.05 } });
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var id = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("taskId").GetString()!;

        await Expect(browser.Locator("#events li[data-event=started]", new() { HasText = id })).ToBeVisibleAsync();
        await Expect(browser.Locator("#events li[data-event=finished]", new() { HasText = id })).ToContainTextAsync("succeeded");
        await browser.ClickAsync("#tabs [data-tab=succeeded]");
        await Expect(browser.Locator($"#task-rows tr[data-task-id='{id}'] [role=progressbar]")).ToHaveAttributeAsync("aria-valuenow", "100");
        await browser.Context.CloseAsync();
    }
}
