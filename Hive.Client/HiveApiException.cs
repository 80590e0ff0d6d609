using System.Net;

namespace Hive.Client;

/// <summary>The API answered with an error status; <see cref="Exception.Message"/> is the server's reason.</summary>
public sealed class HiveApiException : Exception
{
    public HiveApiException(HttpStatusCode statusCode, string message) : base(message) => StatusCode = statusCode;

    /// <summary>The HTTP status of the answer (400 bad input, 401 no or wrong token, 404 unknown task, 409 duplicate id, 503 not ready).</summary>
    public HttpStatusCode StatusCode { get; }
}
