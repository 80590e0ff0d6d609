using System.Net.Http.Headers;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Actors.Metrics;
using Polly;
using Polly.Retry;

namespace Hive.Actors.Callbacks;

/// <summary>
/// Callback POSTs through HttpClient with a Polly retry pipeline (exponential backoff with jitter).
/// Any 2xx is delivered; 4xx other than 408/429 is not retried (the backend said no); the rest is.
/// </summary>
public sealed class HttpCallbackSender : ICallbackSender
{
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly string _secret;

    public HttpCallbackSender(HttpClient http, HiveSettings settings)
    {
        _http = http;
        _secret = settings.CallbackSecret;
        _pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = Math.Max(0, settings.CallbackMaxAttempts - 1),
                Delay = settings.CallbackBackoff,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TaskCanceledException>()
                    .Handle<TimeoutException>()
                    .HandleResult(IsRetryable),
            })
            .AddTimeout(settings.CallbackTimeout)
            .Build();
    }

    private static bool IsRetryable(HttpResponseMessage response)
    {
        var code = (int)response.StatusCode;
        return code >= 500 || code == 408 || code == 429;
    }

    public async Task PostAsync(Uri url, byte[] body, string idempotencyKey, CancellationToken ct = default)
    {
        HttpResponseMessage response;
        try
        {
            response = await SendWithRetriesAsync(url, body, idempotencyKey, ct);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            HiveMetrics.CallbackFailures.Inc();
            throw;
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                HiveMetrics.CallbackFailures.Inc();
                throw new HttpRequestException($"callback to {url.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }
        }
    }

    private ValueTask<HttpResponseMessage> SendWithRetriesAsync(Uri url, byte[] body, string idempotencyKey, CancellationToken ct) =>
        _pipeline.ExecuteAsync(async token =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.TryAddWithoutValidation(CallbackHeaders.IdempotencyKey, idempotencyKey);
            if (!string.IsNullOrEmpty(_secret))
                request.Headers.TryAddWithoutValidation(CallbackHeaders.Signature, CallbackBodies.Sign(body, _secret));
            return await _http.SendAsync(request, token);
        }, ct);
}
