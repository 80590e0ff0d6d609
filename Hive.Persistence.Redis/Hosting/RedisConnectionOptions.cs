using System.Text;
using Akka.Hosting;

namespace Hive.Persistence.Redis.Hosting;

/// <summary>The connection keys shared by <see cref="RedisJournalOptions"/> and <see cref="RedisSnapshotOptions"/>; null = keep the default.</summary>
public interface IRedisConnectionOptions
{
    /// <summary>StackExchange.Redis configuration string, e.g. "localhost:6379,password=...,ssl=true".</summary>
    string? ConfigurationString { get; set; }

    /// <summary>"host:port" endpoints; when set they replace those of <see cref="ConfigurationString"/>.</summary>
    IReadOnlyList<string>? Endpoints { get; set; }

    string? User { get; set; }

    string? Password { get; set; }

    int? Database { get; set; }

    bool? Ssl { get; set; }

    string? SslHost { get; set; }

    TimeSpan? ConnectTimeout { get; set; }

    TimeSpan? OperationTimeout { get; set; }

    bool? ShareConnection { get; set; }

    /// <summary>Prefix of every key the plugin writes; one per application.</summary>
    string? KeyPrefix { get; set; }
}

internal static class RedisConnectionHocon
{
    public static void Append(StringBuilder sb, IRedisConnectionOptions options)
    {
        if (options.ConfigurationString is not null) sb.AppendLine($"configuration-string = {options.ConfigurationString.ToHocon()}");
        if (options.Endpoints is not null) sb.AppendLine($"endpoints = [{string.Join(", ", options.Endpoints.Select(e => e.ToHocon()))}]");
        if (options.User is not null) sb.AppendLine($"user = {options.User.ToHocon()}");
        if (options.Password is not null) sb.AppendLine($"password = {options.Password.ToHocon()}");
        if (options.Database is not null) sb.AppendLine($"database = {options.Database.Value}");
        if (options.Ssl is not null) sb.AppendLine($"ssl = {options.Ssl.Value.ToHocon()}");
        if (options.SslHost is not null) sb.AppendLine($"ssl-host = {options.SslHost.ToHocon()}");
        if (options.ConnectTimeout is not null) sb.AppendLine($"connect-timeout = {options.ConnectTimeout.Value.ToHocon()}");
        if (options.OperationTimeout is not null) sb.AppendLine($"operation-timeout = {options.OperationTimeout.Value.ToHocon()}");
        if (options.ShareConnection is not null) sb.AppendLine($"share-connection = {options.ShareConnection.Value.ToHocon()}");
        if (options.KeyPrefix is not null) sb.AppendLine($"key-prefix = {RedisKeys.ValidatePrefix(options.KeyPrefix).ToHocon()}");
    }
}
