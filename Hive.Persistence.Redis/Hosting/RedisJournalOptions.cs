using System.Text;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Hosting;

namespace Hive.Persistence.Redis.Hosting;

/// <summary>Typed options rendering an <c>akka.persistence.journal.&lt;identifier&gt;</c> block for the Redis journal.</summary>
public sealed class RedisJournalOptions : JournalOptions, IRedisConnectionOptions
{
    private static readonly Config Defaults = RedisPersistence.DefaultJournalConfig();

    public RedisJournalOptions() : this(true) { }

    public RedisJournalOptions(bool isDefault, string identifier = "redis") : base(isDefault) => Identifier = identifier;

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

    /// <summary>Events read per round trip during replay.</summary>
    public int? ReplayPageSize { get; set; }

    /// <summary>true = DeleteMessagesTo removes events; false = hides them from replay only.</summary>
    public bool? PhysicalDeletes { get; set; }

    protected override StringBuilder Build(StringBuilder sb)
    {
        RedisConnectionHocon.Append(sb, this);
        if (ReplayPageSize is not null) sb.AppendLine($"replay-page-size = {ReplayPageSize.Value}");
        if (PhysicalDeletes is not null) sb.AppendLine($"physical-deletes = {PhysicalDeletes.Value.ToHocon()}");
        return base.Build(sb);
    }
}
