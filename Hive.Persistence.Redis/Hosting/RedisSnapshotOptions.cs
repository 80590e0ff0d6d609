using System.Text;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Hosting;

namespace Hive.Persistence.Redis.Hosting;

/// <summary>Typed options rendering an <c>akka.persistence.snapshot-store.&lt;identifier&gt;</c> block for the Redis snapshot store.</summary>
public sealed class RedisSnapshotOptions : SnapshotOptions, IRedisConnectionOptions
{
    private static readonly Config Defaults = RedisPersistence.DefaultSnapshotStoreConfig();

    public RedisSnapshotOptions() : this(true) { }

    public RedisSnapshotOptions(bool isDefault, string identifier = "redis") : base(isDefault) => Identifier = identifier;

    public override string Identifier { get; set; }

    protected override Config InternalDefaultConfig => Defaults;

    public string? ConfigurationString { get; set; }
    public IReadOnlyList<string>? Endpoints { get; set; }
    public string? User { get; set; }
    public string? Password { get; set; }
    public int? Database { get; set; }
    public bool? Ssl { get; set; }
    public string? SslHost { get; set; }
    public TimeSpan? ConnectTimeout { get; set; }
    public TimeSpan? OperationTimeout { get; set; }
    public bool? ShareConnection { get; set; }
    public string? KeyPrefix { get; set; }

    /// <summary>Snapshot candidates inspected per round trip when loading.</summary>
    public int? LoadPageSize { get; set; }

    protected override StringBuilder Build(StringBuilder sb)
    {
        RedisConnectionHocon.Append(sb, this);
        if (LoadPageSize is not null) sb.AppendLine($"load-page-size = {LoadPageSize.Value}");
        return base.Build(sb);
    }
}
