using System.Net;
using System.Text.Json;
using Hive.Client;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Client;

/// <summary>
/// Hive.Client end to end against a real node listening beyond loopback with a configured token: submit, wait, list,
/// subscribe, stop, errors; and a node that refuses to listen beyond loopback with no configured token.
/// </summary>
public sealed class HiveClientSpecs : IClassFixture<BrokersFixture>, IAsyncLifetime
{
    private const string Token = "client-specs-token-0123456789abcdef";
    private readonly BrokersFixture _brokers;
    private HiveNodeProcess _node = null!;
    private HttpClient _http = null!;
    private HiveClient _client = null!;

    public HiveClientSpecs(BrokersFixture brokers) => _brokers = brokers;

    public async ValueTask InitializeAsync()
    {
        _node = await HiveNodeProcess.StartAsync(_brokers, guides: 2, httpPort: FreePort.Next(),
            extraHocon: $"hive.http.bind = \"0.0.0.0\"\nhive.http.token = \"{Token}\"\nhive.redis.progress-interval = 100ms");
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_node.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        _client = new HiveClient(_http, Token) { PollInterval = TimeSpan.FromMilliseconds(100) };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _node.DisposeAsync();
    }

    [Fact]
    public async Task A_backend_submits_waits_for_completion_and_reads_status_logs_and_pages_through_the_client()
    {
        var id = await _client.SubmitAsync(TaskRequest.For("sample", new { steps = 3, delay = 0.1 }) with { ProgressLength = 10 });
        var final = await _client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(HiveTaskState.Succeeded, final.State);
        Assert.Equal("sample", final.Script);
        Assert.Equal(_node.Name, final.Node);
        Assert.Equal(100, final.Progress);
        Assert.NotNull(final.Result);

        var logs = await _client.GetLogsAsync(id);
        Assert.NotEmpty(logs.Lines);
        var page = await _client.ListAsync(new TaskFilter(State: HiveTaskState.Succeeded, Script: "sample", Node: _node.Name));
        Assert.Contains(page.Items, t => t.TaskId == id);
        Assert.Null(await _client.GetAsync("never-submitted"));

        var nodes = await _client.GetNodesAsync();
        Assert.Equal(2, nodes.Single(n => n.Node == _node.Name).Guides.Count);
    }

    [Fact]
    public async Task Subscribing_delivers_a_tasks_started_and_finished_events_and_a_stop_through_the_client_ends_it_stopped()
    {
        var id = $"client-{Guid.NewGuid():N}";
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new List<HiveEvent>();
        var subscription = Task.Run(async () =>
        {
            await foreach (var e in _client.SubscribeAsync(taskId: id, ct: cts.Token))
            {
                seen.Add(e);
                if (e.Event == "finished") return;
            }
        }, cts.Token);
        await Task.Delay(500); // the feed starts from "now"

        await _client.SubmitAsync(TaskRequest.For("sleep", new { seconds = 60 }, id));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await _client.GetAsync(id))?.State != HiveTaskState.Running)
        {
            Assert.True(DateTime.UtcNow < deadline, $"task {id} never ran\n{_node.Log}");
            await Task.Delay(100);
        }
        await _client.StopAsync(id);
        var final = await _client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(20));
        Assert.Equal(HiveTaskState.Stopped, final.State);
        Assert.Contains("api", final.Reason);

        await subscription;
        Assert.Contains(seen, e => e.Event == "started" && e.State == HiveTaskState.Running && e.Node == _node.Name);
        Assert.Contains(seen, e => e.Event == "finished" && e.State == HiveTaskState.Stopped);
        Assert.All(seen, e => Assert.Equal(id, e.TaskId));
    }

    [Fact]
    public async Task Beyond_loopback_reads_need_the_token_too_and_errors_carry_the_servers_reason()
    {
        var anonymous = new HiveClient(_http);
        var unauthorized = await Assert.ThrowsAsync<HiveApiException>(() => anonymous.ListAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Contains("token", unauthorized.Message);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("healthz")).StatusCode);

        var unknown = await Assert.ThrowsAsync<HiveApiException>(() => _client.SubmitAsync(TaskRequest.For("no-such-script")));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown script 'no-such-script'", unknown.Message);
        Assert.DoesNotContain(Token, _node.Log);
    }

    [Fact]
    public async Task A_node_asked_to_listen_beyond_loopback_without_a_configured_token_refuses_to_start_and_says_why()
    {
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => HiveNodeProcess.StartAsync(_brokers, guides: 1,
            httpPort: FreePort.Next(), extraHocon: "hive.http.bind = \"0.0.0.0\""));
        Assert.Contains("no token is configured", failed.Message);
        Assert.Contains("HIVE_API_TOKEN", failed.Message);
    }
}
