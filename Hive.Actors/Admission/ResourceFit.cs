using System.Globalization;
using Hive.Actors.Guides;

namespace Hive.Actors.Admission;

/// <summary>
/// Whether a task's expected resources (its script manifest's <c>expectedCpu</c> in cores, <c>expectedMemoryMb</c>) fit
/// under hive.node.admission's limits: the last sample, plus what the tasks started since shortly before it are expected
/// to add (their use shows in the samples only once they run), plus the task itself. Off when both limits are 100 %.
/// Not thread-safe (the monitor's own).
/// </summary>
public sealed class ResourceFit(AdmissionSettings limits, int cores, long? totalMemoryMb)
{
    private readonly List<(DateTimeOffset At, double Cpu, long MemoryMb)> _recent = new();

    public bool Enabled => limits.MaxCpuPercent < 100 || limits.MaxMemoryPercent < 100;

    /// <summary>Null when the delivery fits (or sets no expectation, or a figure is unknown); else why it does not.</summary>
    public string? WhyNot(TaskDelivery delivery, AdmissionStatus sample, DateTimeOffset now)
    {
        if (!Enabled || delivery is { ExpectedCpu: null, ExpectedMemoryMb: null }) return null;
        Forget(now);
        if (delivery.ExpectedMemoryMb is { } memory && sample.MemoryPercent is { } memoryNow && totalMemoryMb is > 0 and var total)
        {
            var reserved = _recent.Sum(r => r.MemoryMb);
            var expected = memoryNow + 100.0 * (reserved + memory) / total;
            if (expected > limits.MaxMemoryPercent)
                return $"expects {memory} MB: memory {Percent(memoryNow)} + {Percent(expected - memoryNow)} > {Percent(limits.MaxMemoryPercent)}";
        }
        if (delivery.ExpectedCpu is { } cpu && sample.CpuPercent is { } cpuNow && cores > 0)
        {
            var reserved = _recent.Sum(r => r.Cpu);
            var expected = cpuNow + 100.0 * (reserved + cpu) / cores;
            if (expected > limits.MaxCpuPercent)
                return $"expects {cpu.ToString("0.##", CultureInfo.InvariantCulture)} cores of {cores}: cpu {Percent(cpuNow)} + {Percent(expected - cpuNow)} > {Percent(limits.MaxCpuPercent)}";
        }
        return null;
    }

    /// <summary>A task was handed to a guide: its expectation counts until the samples can show its use.</summary>
    public void Started(TaskDelivery delivery, DateTimeOffset now)
    {
        if (!Enabled || delivery is { ExpectedCpu: null, ExpectedMemoryMb: null }) return;
        Forget(now);
        _recent.Add((now, delivery.ExpectedCpu ?? 0, delivery.ExpectedMemoryMb ?? 0));
    }

    // Two sampling intervals: a run started just before a sample shows in the one after it.
    private void Forget(DateTimeOffset now) => _recent.RemoveAll(r => now - r.At > 2 * limits.Interval);

    private static string Percent(double value) => value.ToString("0.#", CultureInfo.InvariantCulture) + "%";
}
