using System.Globalization;

namespace Hive.Bench;

/// <summary>Median with min–max over the repetitions of one figure.</summary>
internal sealed record Summary(double Median, double Min, double Max, int Count)
{
    public static Summary Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values to summarise", nameof(values));
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new Summary(median, sorted[0], sorted[^1], sorted.Length);
    }

    public string Format(string format, string unit) =>
        $"{Median.ToString(format, CultureInfo.InvariantCulture)} {unit} (min–max {Min.ToString(format, CultureInfo.InvariantCulture)}–{Max.ToString(format, CultureInfo.InvariantCulture)}, n={Count})";
}

internal static class Percentiles
{
    /// <summary>Nearest-rank percentile of an unsorted sample.</summary>
    public static double Of(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0) throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>The targets of the issue, each met or missed, printed at the end as "targets met: N of M".</summary>
internal sealed class Scorecard
{
    private readonly List<(string Name, bool Met, string Detail)> _targets = [];

    public void Add(string name, bool met, string detail)
    {
        _targets.Add((name, met, detail));
        Console.WriteLine($"  target {name}: {(met ? "MET" : "MISSED")} ({detail})");
    }

    public void Print()
    {
        Console.WriteLine();
        Console.WriteLine("Targets:");
        foreach (var (name, met, detail) in _targets)
            Console.WriteLine($"  [{(met ? "met" : "MISSED")}] {name}: {detail}");
        Console.WriteLine($"targets met: {_targets.Count(t => t.Met)} of {_targets.Count}");
    }
}
