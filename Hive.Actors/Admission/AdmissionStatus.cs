using System.Globalization;

namespace Hive.Actors.Admission;

/// <summary>
/// The admission gate's latest verdict: open (the node takes tasks) or closed with the reason, plus the figures it was
/// based on (null until sampled, or where the machine does not provide them: the gate then stays open).
/// </summary>
public sealed record AdmissionStatus(bool Open, double? CpuPercent, double? MemoryPercent, string? Reason)
{
    /// <summary>Before the first sample: open, so a node never waits for its own sampler to take work.</summary>
    public static AdmissionStatus Initial { get; } = new(true, null, null, null);

    /// <summary>The verdict for one sample against the limits; memory is named first when both are exceeded.</summary>
    public static AdmissionStatus Evaluate(double? cpuPercent, double? memoryPercent, AdmissionSettings limits)
    {
        var reasons = new List<string>(2);
        if (memoryPercent is { } memory && memory > limits.MaxMemoryPercent) reasons.Add($"memory {Percent(memory)} > {Percent(limits.MaxMemoryPercent)}");
        if (cpuPercent is { } cpu && cpu > limits.MaxCpuPercent) reasons.Add($"cpu {Percent(cpu)} > {Percent(limits.MaxCpuPercent)}");
        return new AdmissionStatus(reasons.Count == 0, cpuPercent, memoryPercent, reasons.Count == 0 ? null : string.Join(", ", reasons));
    }

    /// <summary>"open" or "closed: memory 93% > 90%", as `hive nodes` prints it.</summary>
    public string Describe() => Open ? "open" : $"closed: {Reason}";

    public override string ToString() => Describe();

    private static string Percent(double value) => value.ToString("0.#", CultureInfo.InvariantCulture) + "%";
}
