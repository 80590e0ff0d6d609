namespace Hive.Actors.Admission;

/// <summary>
/// Limits of resource-aware admission (<c>hive.node.admission</c>): while the machine's CPU or memory is above its limit,
/// the node takes no new task. A limit of 100 never closes the gate.
/// </summary>
public sealed record AdmissionSettings
{
    private AdmissionSettings(double maxCpuPercent, double maxMemoryPercent, TimeSpan interval)
    {
        MaxCpuPercent = maxCpuPercent;
        MaxMemoryPercent = maxMemoryPercent;
        Interval = interval;
    }

    /// <summary>Busiest system-wide CPU (percent of all cores over the last interval) at which the node still takes tasks.</summary>
    public double MaxCpuPercent { get; private init; }

    /// <summary>Fullest memory (percent, 1 - MemAvailable / MemTotal) at which the node still takes tasks.</summary>
    public double MaxMemoryPercent { get; private init; }

    /// <summary>Sampling interval; the CPU figure is the busy share over it.</summary>
    public TimeSpan Interval { get; private init; }

    public static AdmissionSettings Default { get; } = new(90, 90, TimeSpan.FromSeconds(1));

    public static AdmissionSettings Create(double maxCpuPercent, double maxMemoryPercent, TimeSpan interval)
    {
        if (maxCpuPercent is <= 0 or > 100 || double.IsNaN(maxCpuPercent))
            throw new ArgumentOutOfRangeException(nameof(maxCpuPercent), maxCpuPercent, "hive.node.admission.max-cpu-percent must be in (0, 100]");
        if (maxMemoryPercent is <= 0 or > 100 || double.IsNaN(maxMemoryPercent))
            throw new ArgumentOutOfRangeException(nameof(maxMemoryPercent), maxMemoryPercent, "hive.node.admission.max-memory-percent must be in (0, 100]");
        if (interval < TimeSpan.FromMilliseconds(100))
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "hive.node.admission.interval must be at least 100ms");
        return new AdmissionSettings(maxCpuPercent, maxMemoryPercent, interval);
    }

    public AdmissionSettings WithMaxCpuPercent(double percent) => Create(percent, MaxMemoryPercent, Interval);

    public AdmissionSettings WithMaxMemoryPercent(double percent) => Create(MaxCpuPercent, percent, Interval);

    public AdmissionSettings WithInterval(TimeSpan interval) => Create(MaxCpuPercent, MaxMemoryPercent, interval);
}
