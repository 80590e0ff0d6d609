using System.Net.Http.Headers;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Http;

/// <summary>
/// Brokers and one real node serving its HTTP API on a free loopback port with a generated token (written to a
/// temporary token file, as an operator's CLI would find it).
/// </summary>
public sealed class ApiNodeFixture : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("hive-api-").FullName;

    public BrokersFixture Brokers { get; } = new();
    public HiveNodeProcess Node { get; private set; } = null!;
    public string TokenFile => Path.Combine(_folder, "api-token");
    public string Token { get; private set; } = "";
    public Uri BaseAddress => new($"http://127.0.0.1:{Node.HttpPort}/");

    /// <summary>A client with no credentials.</summary>
    public HttpClient Anonymous { get; private set; } = null!;

    /// <summary>A client sending the node's token.</summary>
    public HttpClient Authorized { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await Brokers.InitializeAsync();
        Node = await HiveNodeProcess.StartAsync(Brokers, guides: 2, httpPort: FreePort.Next(),
            extraHocon: $"hive.http.token-file = \"{TokenFile}\"\nhive.redis.progress-interval = 100ms");
        Token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        Anonymous = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Authorized = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Authorized.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
    }

    public async ValueTask DisposeAsync()
    {
        Anonymous?.Dispose();
        Authorized?.Dispose();
        if (Node is not null) await Node.DisposeAsync();
        await Brokers.DisposeAsync();
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }
}
