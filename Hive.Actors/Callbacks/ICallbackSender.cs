namespace Hive.Actors.Callbacks;

/// <summary>POSTs a callback body with retries and backoff; the task fails only when every attempt failed.</summary>
public interface ICallbackSender
{
    Task PostAsync(Uri url, byte[] body, string idempotencyKey, CancellationToken ct = default);
}
