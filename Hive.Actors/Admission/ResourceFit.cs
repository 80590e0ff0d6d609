using System.Globalization;
using Hive.Actors.Guides;

namespace Hive.Actors.Admission;

/// <summary>
/// Whether a task's expected resources (its script manifest's <c>expectedCpu</c> in cores, <c>expectedMemoryMb</c>) fit
/// under hive.node.admission's limits: the last sample, plus what the node's guides that took a task recently are expected
/// to add (their use shows in the samples only once they run), plus the task itself. A dimension whose limit is 100 % is
/// not weighed; an unknown figure counts as 0. Not thread-safe (the monitor's own).
/// </summary>
/// <remarks>
/// Reservations are per guide: a guide's CPU reservation lasts two sampling intervals (a run started just before a
/// sample shows in the one after it); its memory reservation lasts until the guide is free again, because memory often
/// grows over a run's life (so the node errs on the side of taking too little while such runs are young).
/// </remarks>
public sealed class ResourceFit(AdmissionSettings limits, int cores, long? totalMemoryMb)
{
    private readonly Dictionary<string, (DateTimeOffset At, double Cpu, long MemoryMb)> _reserved = new(StringComparer.Ordinal);

    private bool WeighsCpu => limits.MaxCpuPercent < 100 && cores > 0;

    private bool WeighsMemory => limits.MaxMemoryPercent < 100 && totalMemoryMb > 0;

    /// <summary>Null when the delivery fits (or expects nothing that is weighed); else why it does not.</summary>
    public string? WhyNot(TaskDelivery delivery, AdmissionStatus sample, DateTimeOffset now)
    {
        if (delivery.ExpectedMemoryMb is { } memory && WeighsMemory)
        {
            var reserved = _reserved.Values.Sum(r => r.MemoryMb);
            var memoryNow = sample.MemoryPercent ?? 0;
            var added = 100.0 * (reserved + memory) / totalMemoryMb!.Value;
            if (memoryNow + added > limits.MaxMemoryPercent)
                return $"expects {memory} MB: memory {Percent(memoryNow)} + {Percent(added)} > {Percent(limits.MaxMemoryPercent)}";
        }
        if (delivery.ExpectedCpu is { } cpu && WeighsCpu)
        {
            var reserved = _reserved.Values.Where(r => now - r.At <= CpuWindow).Sum(r => r.Cpu);
            var cpuNow = sample.CpuPercent ?? 0;
            var added = 100.0 * (reserved + cpu) / cores;
            if (cpuNow + added > limits.MaxCpuPercent)
                return $"expects {cpu.ToString("0.##", CultureInfo.InvariantCulture)} cores of {cores}: cpu {Percent(cpuNow)} + {Percent(added)} > {Percent(limits.MaxCpuPercent)}";
        }
        return null;
    }

    /// <summary>A guide took the delivery to run it: its expectation counts until the samples can show its use.</summary>
    public void Started(string guideId, TaskDelivery delivery, DateTimeOffset now)
    {
        if (delivery is { ExpectedCpu: null, ExpectedMemoryMb: null } || delivery.StoppedBy is not null) _reserved.Remove(guideId);
        else _reserved[guideId] = (now, delivery.ExpectedCpu ?? 0, delivery.ExpectedMemoryMb ?? 0);
    }

    /// <summary>The guide is free again (its run ended, or it never started one): nothing of it is expected any more.</summary>
    public void Ended(string guideId) => _reserved.Remove(guideId);

    private TimeSpan CpuWindow => 2 * limits.Interval;

    private static string Percent(double value) => value.ToString("0.#", CultureInfo.InvariantCulture) + "%";
}
