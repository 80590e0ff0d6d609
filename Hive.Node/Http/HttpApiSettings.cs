using System.Net;
using Akka.Configuration;
using Hive.Actors.Configuration;

namespace Hive.Node.Http;

/// <summary>
/// The <c>hive.http</c> section: where the API listens and how it is protected. The token itself is not here
/// (see <see cref="ApiToken"/>); <see cref="ConfiguredToken"/> is masked in <see cref="ToString"/>.
/// </summary>
public sealed record HttpApiSettings
{
    /// <summary>Environment variable holding the API token; it wins over <c>hive.http.token</c>.</summary>
    public const string TokenVariable = "HIVE_API_TOKEN";

    /// <summary>TCP port; 0 = no HTTP API.</summary>
    public required int Port { get; init; }

    /// <summary>Address to bind: an IP address, <c>localhost</c>, or <c>*</c> / <c>0.0.0.0</c> / <c>::</c> for every interface.</summary>
    public required string Bind { get; init; }

    /// <summary>Token from <c>hive.http.token</c> or <see cref="TokenVariable"/>; empty = generate one at start.</summary>
    public required string ConfiguredToken { get; init; }

    /// <summary>Where a generated token is written (mode 0600) for the CLI and the dashboard to read.</summary>
    public required string TokenFile { get; init; }

    /// <summary>How often the SSE feed reads new entries of <c>hive:events</c>.</summary>
    public required TimeSpan EventsPollInterval { get; init; }

    /// <summary>Largest page of <c>GET /api/v1/tasks</c>.</summary>
    public required int MaxPageSize { get; init; }

    public bool Enabled => Port > 0;

    /// <summary>True when only this machine can reach the API (then reads need no token; writes always do).</summary>
    public bool IsLoopbackOnly => BindAddress is { } a && IPAddress.IsLoopback(a);

    /// <summary>The address Kestrel listens on.</summary>
    public IPAddress? BindAddress => Bind switch
    {
        "localhost" => IPAddress.Loopback,
        "*" or "" => IPAddress.IPv6Any,
        _ => IPAddress.TryParse(Bind, out var address) ? address : null,
    };

    public static HttpApiSettings FromConfig(Config config, HiveSettings hive, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var http = (ReferenceEquals(config, HiveSettings.DefaultConfig) ? config : config.WithFallback(HiveSettings.DefaultConfig)).GetConfig("hive.http");
        var tokenFile = http.GetString("token-file");
        var settings = new HttpApiSettings
        {
            Port = hive.HttpPort,
            Bind = http.GetString("bind").Trim(),
            ConfiguredToken = environment(TokenVariable) is { Length: > 0 } fromEnv ? fromEnv : http.GetString("token") ?? "",
            TokenFile = string.IsNullOrWhiteSpace(tokenFile) ? DefaultTokenFile(hive) : Path.GetFullPath(tokenFile),
            EventsPollInterval = http.GetTimeSpan("events-poll-interval"),
            MaxPageSize = http.GetInt("max-page-size"),
        };
        if (settings.Port is < 0 or > 65535) throw new ArgumentException($"hive.http.port {settings.Port} is not a TCP port (0 = off, 1-65535)");
        if (settings.BindAddress is null) throw new ArgumentException($"hive.http.bind '{settings.Bind}' is not an IP address, 'localhost' or '*'");
        if (settings.MaxPageSize < 1) throw new ArgumentException($"hive.http.max-page-size must be at least 1; got {settings.MaxPageSize}");
        if (settings.EventsPollInterval <= TimeSpan.Zero) throw new ArgumentException("hive.http.events-poll-interval must be positive");
        return settings;
    }

    /// <summary><c>&lt;work-dir&gt;/&lt;node-name&gt;.api-token</c>, beside the node's run ledger.</summary>
    public static string DefaultTokenFile(HiveSettings hive) => Path.Combine(hive.WorkDir, $"{hive.NodeName}.api-token");

    public override string ToString() =>
        $"HttpApiSettings(port={Port}, bind={Bind}, token={(ConfiguredToken.Length > 0 ? "configured" : "generated")}, token-file={TokenFile})";
}

/// <summary>The <c>hive.log</c> section: console format and an optional file.</summary>
public sealed record LogSettings(bool Json, string File)
{
    public static LogSettings FromConfig(Config config)
    {
        var log = (ReferenceEquals(config, HiveSettings.DefaultConfig) ? config : config.WithFallback(HiveSettings.DefaultConfig)).GetConfig("hive.log");
        var file = log.GetString("file");
        return new LogSettings(log.GetBoolean("json"), string.IsNullOrWhiteSpace(file) ? "" : Path.GetFullPath(file));
    }
}
