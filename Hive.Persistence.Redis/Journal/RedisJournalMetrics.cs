using System.Diagnostics.Metrics;

namespace Hive.Persistence.Redis.Journal;

/// <summary>
/// The journal's .NET meter <c>Hive.Persistence.Redis</c> (exported by any metrics listener, e.g. prometheus-net's
/// meter adapter as <c>hive_journal_write_duration_seconds</c>).
/// </summary>
public static class RedisJournalMetrics
{
    public const string MeterName = "Hive.Persistence.Redis";

    public const string WriteDurationName = "hive.journal.write.duration";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Seconds from a write batch reaching the journal to Redis confirming every event of it.</summary>
    public static readonly Histogram<double> WriteDuration = Meter.CreateHistogram<double>(
        WriteDurationName, unit: "s", description: "Time to write one batch of events to Redis");
}
