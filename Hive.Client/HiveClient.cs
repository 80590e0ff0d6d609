using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Hive.Client;

/// <summary>
/// Client of one Hive node's HTTP API (<c>/api/v1</c>). Thread-safe; the <see cref="HttpClient"/> is the caller's
/// (use IHttpClientFactory or one long-lived instance) and its <see cref="HttpClient.BaseAddress"/> is the node,
/// e.g. <c>http://127.0.0.1:8080/</c>. Every failure the server explains becomes a <see cref="HiveApiException"/>
/// carrying its message.
/// </summary>
public sealed class HiveClient
{
    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue? _auth;

    /// <param name="http">Its <see cref="HttpClient.BaseAddress"/> must be set to the node's address.</param>
    /// <param name="token">The node's API token (<c>hive.http.token</c>, env <c>HIVE_API_TOKEN</c>, or its token file); null for a loopback node's reads only.</param>
    public HiveClient(HttpClient http, string? token = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.BaseAddress is null) throw new ArgumentException("the HttpClient needs a BaseAddress: the node's API address, e.g. http://127.0.0.1:8080/", nameof(http));
        _http = http;
        _auth = string.IsNullOrEmpty(token) ? null : new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>How often <see cref="WaitForCompletionAsync"/> reads the task's status.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Validates and queues a task; returns its id once the broker confirmed it.</summary>
    public async Task<string> SubmitAsync(TaskRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var message = Request(HttpMethod.Post, "api/v1/tasks");
        message.Content = JsonContent.Create(request, options: HiveJson.Options);
        var accepted = await SendAsync<TaskAccepted>(message, ct).ConfigureAwait(false);
        return accepted.TaskId;
    }

    /// <summary>The task's status, or null when no task of that id is known (or its status expired).</summary>
    public async Task<HiveTaskStatus?> GetAsync(string taskId, CancellationToken ct = default)
    {
        using var message = Request(HttpMethod.Get, $"api/v1/tasks/{Uri.EscapeDataString(taskId)}");
        try
        {
            return await SendAsync<HiveTaskStatus>(message, ct).ConfigureAwait(false);
        }
        catch (HiveApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>A page of tasks, newest first.</summary>
    public async Task<TaskPage> ListAsync(TaskFilter? filter = null, CancellationToken ct = default)
    {
        filter ??= new TaskFilter();
        var query = new StringBuilder($"api/v1/tasks?offset={filter.Offset}&limit={filter.Limit}");
        if (filter.State is { } state) query.Append("&state=").Append(state.ToWire());
        if (filter.Script is not null) query.Append("&script=").Append(Uri.EscapeDataString(filter.Script));
        if (filter.Node is not null) query.Append("&node=").Append(Uri.EscapeDataString(filter.Node));
        using var message = Request(HttpMethod.Get, query.ToString());
        return await SendAsync<TaskPage>(message, ct).ConfigureAwait(false);
    }

    /// <summary>The output lines kept for the task.</summary>
    public async Task<TaskLogs> GetLogsAsync(string taskId, CancellationToken ct = default)
    {
        using var message = Request(HttpMethod.Get, $"api/v1/tasks/{Uri.EscapeDataString(taskId)}/logs");
        return await SendAsync<TaskLogs>(message, ct).ConfigureAwait(false);
    }

    /// <summary>Every node that reported recently, with its guides.</summary>
    public async Task<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken ct = default)
    {
        using var message = Request(HttpMethod.Get, "api/v1/nodes");
        return await SendAsync<NodeInfo[]>(message, ct).ConfigureAwait(false);
    }

    /// <summary>Stops the task wherever it runs (a queued task never starts); <c>all</c> stops every task.</summary>
    public Task StopAsync(string taskId, CancellationToken ct = default) => ControlAsync(taskId, "stop", ct);

    /// <summary>Pauses the task's script (SIGSTOP to its process group).</summary>
    public Task PauseAsync(string taskId, CancellationToken ct = default) => ControlAsync(taskId, "pause", ct);

    /// <summary>Resumes a paused script (SIGCONT).</summary>
    public Task ResumeAsync(string taskId, CancellationToken ct = default) => ControlAsync(taskId, "resume", ct);

    private async Task ControlAsync(string taskId, string action, CancellationToken ct)
    {
        using var message = Request(HttpMethod.Post, $"api/v1/tasks/{Uri.EscapeDataString(taskId)}/{action}");
        await SendAsync<ControlAccepted>(message, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until the task reaches a final state and returns that status. Throws <see cref="TimeoutException"/> when it
    /// has not ended within <paramref name="timeout"/>.
    /// </summary>
    public async Task<HiveTaskStatus> WaitForCompletionAsync(string taskId, TimeSpan timeout, CancellationToken ct = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        HiveTaskStatus? last = null;
        try
        {
            while (true)
            {
                last = await GetAsync(taskId, deadline.Token).ConfigureAwait(false) ?? last;
                if (last is { } s && s.State.IsFinal()) return s;
                await Task.Delay(PollInterval, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"task {taskId} did not end within {timeout}; last state: {(last is null ? "unknown" : last.State.ToWire())}");
        }
    }

    /// <summary>
    /// Follows the cluster's task events (Server-Sent Events over <c>GET /api/v1/events</c>) until <paramref name="ct"/> is
    /// cancelled. <paramref name="from"/> = a stream entry id to resume after, or null for events from now on;
    /// <paramref name="taskId"/> keeps only that task's events.
    /// </summary>
    public async IAsyncEnumerable<HiveEvent> SubscribeAsync(string? from = null, string? taskId = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var path = new StringBuilder("api/v1/events");
        var separator = '?';
        if (from is not null) { path.Append(separator).Append("from=").Append(Uri.EscapeDataString(from)); separator = '&'; }
        if (taskId is not null) path.Append(separator).Append("taskId=").Append(Uri.EscapeDataString(taskId));
        using var message = Request(HttpMethod.Get, path.ToString());
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var data = new StringBuilder();
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                yield break;
            }
            if (line is null) yield break;
            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    var evt = JsonSerializer.Deserialize<HiveEvent>(data.ToString(), HiveJson.Options);
                    data.Clear();
                    if (evt is not null) yield return evt;
                }
                continue;
            }
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                if (data.Length > 0) data.Append('\n');
                data.Append(line.AsSpan(line.StartsWith("data: ", StringComparison.Ordinal) ? 6 : 5));
            }
            // "id:", "event:" and ":" comments carry nothing the data does not.
        }
    }

    private HttpRequestMessage Request(HttpMethod method, string path)
    {
        var message = new HttpRequestMessage(method, path);
        if (_auth is not null) message.Headers.Authorization = _auth;
        return message;
    }

    private async Task<T> SendAsync<T>(HttpRequestMessage message, CancellationToken ct)
    {
        using var response = await _http.SendAsync(message, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<T>(HiveJson.Options, ct).ConfigureAwait(false)
               ?? throw new HiveApiException(response.StatusCode, $"{message.Method} {message.RequestUri} answered an empty body");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string? reason = null;
        try
        {
            reason = JsonSerializer.Deserialize<ApiError>(body, HiveJson.Options)?.Error;
        }
        catch (JsonException)
        {
        }
        reason ??= body.Length is > 0 and < 500 ? body : response.ReasonPhrase;
        throw new HiveApiException(response.StatusCode, $"{(int)response.StatusCode} {response.StatusCode}: {reason}");
    }
}
