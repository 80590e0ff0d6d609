using Akka.Configuration;
using StackExchange.Redis;

namespace Hive.Persistence.Redis;

/// <summary>How a plugin reaches Redis. Immutable; the password never appears in <see cref="ToString"/>.</summary>
public sealed record RedisConnectionSettings
{
    private RedisConnectionSettings() { }

    /// <summary>A StackExchange.Redis configuration string used as the base; may be empty.</summary>
    public string ConfigurationString { get; init; } = "";

    /// <summary>"host:port" endpoints; when non-empty they replace those of <see cref="ConfigurationString"/>.</summary>
    public IReadOnlyList<string> Endpoints { get; init; } = [];

    public string? User { get; init; }

    public string? Password { get; init; }

    /// <summary>Database number, or <c>null</c> for the configuration string's default (0 when unset).</summary>
    public int? Database { get; init; }

    public bool Ssl { get; init; }

    public string? SslHost { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether plugins with equal settings share one multiplexer.</summary>
    public bool ShareConnection { get; init; } = true;

    public static RedisConnectionSettings Create(string configurationString) =>
        new() { ConfigurationString = configurationString ?? throw new ArgumentNullException(nameof(configurationString)) };

    /// <summary>Reads the connection keys of one plugin block (missing keys take the embedded defaults).</summary>
    public static RedisConnectionSettings Create(Config pluginConfig)
    {
        ArgumentNullException.ThrowIfNull(pluginConfig);
        var database = pluginConfig.GetInt("database", -1);
        return new RedisConnectionSettings
        {
            ConfigurationString = pluginConfig.GetString("configuration-string", "") ?? "",
            Endpoints = (pluginConfig.GetStringList("endpoints", []) ?? []).Where(e => !string.IsNullOrWhiteSpace(e)).ToArray(),
            User = NullIfEmpty(pluginConfig.GetString("user", "")),
            Password = NullIfEmpty(pluginConfig.GetString("password", "")),
            Database = database < 0 ? null : database,
            Ssl = pluginConfig.GetBoolean("ssl", false),
            SslHost = NullIfEmpty(pluginConfig.GetString("ssl-host", "")),
            ConnectTimeout = pluginConfig.GetTimeSpan("connect-timeout", TimeSpan.FromSeconds(5), allowInfinite: false),
            OperationTimeout = pluginConfig.GetTimeSpan("operation-timeout", TimeSpan.FromSeconds(5), allowInfinite: false),
            ShareConnection = pluginConfig.GetBoolean("share-connection", true),
        };
    }

    public RedisConnectionSettings WithEndpoints(params string[] endpoints) => this with { Endpoints = endpoints };

    public RedisConnectionSettings WithPassword(string? password) => this with { Password = password };

    public RedisConnectionSettings WithDatabase(int? database) => this with { Database = database };

    public RedisConnectionSettings WithSsl(bool ssl, string? sslHost = null) => this with { Ssl = ssl, SslHost = sslHost };

    /// <summary>
    /// The StackExchange.Redis options these settings describe. <c>AbortOnConnectFail</c> is always false:
    /// the multiplexer keeps reconnecting in the background instead of failing once and for all.
    /// </summary>
    public ConfigurationOptions ToConfigurationOptions()
    {
        ConfigurationOptions options;
        try
        {
            options = string.IsNullOrWhiteSpace(ConfigurationString)
                ? new ConfigurationOptions()
                : ConfigurationOptions.Parse(ConfigurationString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            // The configuration string may hold a password: do not echo it.
            throw new ConfigurationException($"Invalid Redis configuration-string: {e.GetType().Name}. See https://stackexchange.github.io/StackExchange.Redis/Configuration");
        }

        if (Endpoints.Count > 0)
        {
            options.EndPoints.Clear();
            foreach (var endpoint in Endpoints) options.EndPoints.Add(endpoint);
        }

        if (options.EndPoints.Count == 0)
            throw new ConfigurationException("No Redis endpoint configured: set `configuration-string` or `endpoints` in the plugin's HOCON block.");

        if (User is not null) options.User = User;
        if (Password is not null) options.Password = Password;
        if (Database is not null) options.DefaultDatabase = Database;
        if (Ssl) options.Ssl = true;
        if (SslHost is not null) options.SslHost = SslHost;
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = (int)ConnectTimeout.TotalMilliseconds;
        options.AsyncTimeout = (int)OperationTimeout.TotalMilliseconds;
        options.SyncTimeout = (int)OperationTimeout.TotalMilliseconds;
        return options;
    }

    /// <summary>The database number the plugin uses.</summary>
    public int EffectiveDatabase =>
        Database ?? (string.IsNullOrWhiteSpace(ConfigurationString) ? 0 : ConfigurationOptions.Parse(ConfigurationString).DefaultDatabase ?? 0);

    /// <summary>Identity of the connection (all settings but the database), used to share multiplexers. Contains the password: never log it.</summary>
    internal string SharingKey
    {
        get
        {
            var options = ToConfigurationOptions();
            options.DefaultDatabase = null;
            return options.ToString(includePassword: true);
        }
    }

    public override string ToString() =>
        $"RedisConnectionSettings {{ Endpoints = [{(Endpoints.Count > 0 ? string.Join(", ", Endpoints) : "from configuration-string")}], User = {User ?? "-"}, Password = {(Password is null && !ConfigurationString.Contains("password=", StringComparison.OrdinalIgnoreCase) ? "-" : "***")}, Database = {Database?.ToString() ?? "default"}, Ssl = {Ssl}, ConnectTimeout = {ConnectTimeout}, OperationTimeout = {OperationTimeout}, ShareConnection = {ShareConnection} }}";

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
