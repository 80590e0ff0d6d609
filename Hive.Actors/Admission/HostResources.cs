using System.Globalization;

namespace Hive.Actors.Admission;

/// <summary>Cumulative CPU time of the whole machine (the first line of /proc/stat), in clock ticks.</summary>
public readonly record struct CpuTimes(ulong Busy, ulong Total)
{
    /// <summary>Busy share between <paramref name="earlier"/> and this sample, in percent; null when no time passed.</summary>
    public double? BusyPercentSince(CpuTimes earlier)
    {
        if (Total <= earlier.Total || Busy < earlier.Busy) return null;
        return Math.Clamp(100.0 * (Busy - earlier.Busy) / (Total - earlier.Total), 0, 100);
    }
}

/// <summary>Reads and parses the Linux resource figures admission is based on (/proc/stat, /proc/meminfo).</summary>
public static class HostResources
{
    public const string StatPath = "/proc/stat";
    public const string MemInfoPath = "/proc/meminfo";

    /// <summary>
    /// The aggregate "cpu" line: busy = user + nice + system + irq + softirq + steal; total adds idle and iowait.
    /// guest and guest_nice are already counted in user and nice. Null when the text has no such line.
    /// </summary>
    public static CpuTimes? ParseStat(string stat)
    {
        foreach (var line in stat.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith("cpu ")) continue;
            var fields = line[4..].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4) return null;
            var values = new ulong[8];
            for (var i = 0; i < Math.Min(8, fields.Length); i++)
                if (!ulong.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i])) return null;
            var idle = values[3] + values[4];
            var busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7];
            return new CpuTimes(busy, busy + idle);
        }
        return null;
    }

    /// <summary>Memory in use, in percent: 1 - MemAvailable / MemTotal. Null when either figure is missing.</summary>
    public static double? ParseMemoryPercent(string meminfo)
    {
        ulong? total = null, available = null;
        foreach (var line in meminfo.AsSpan().EnumerateLines())
        {
            if (line.StartsWith("MemTotal:")) total = Kilobytes(line["MemTotal:".Length..]);
            else if (line.StartsWith("MemAvailable:")) available = Kilobytes(line["MemAvailable:".Length..]);
            if (total is not null && available is not null) break;
        }
        if (total is not { } t || t == 0 || available is not { } a) return null;
        return Math.Clamp(100.0 * (1 - (double)a / t), 0, 100);
    }

    /// <summary>
    /// The CPUs the busy percentage of /proc/stat's <c>cpu</c> line is spread over (its <c>cpuN</c> lines), read once; not
    /// <see cref="Environment.ProcessorCount"/>, which follows a container's quota while /proc/stat shows the host.
    /// </summary>
    public static int Cpus => CpuCount.Value;

    private static readonly Lazy<int> CpuCount = new(() =>
    {
        try
        {
            var count = File.ReadLines(StatPath).Count(line => line.Length > 3 && line.StartsWith("cpu", StringComparison.Ordinal) && char.IsAsciiDigit(line[3]));
            return count > 0 ? count : Environment.ProcessorCount;
        }
        catch (IOException)
        {
            return Environment.ProcessorCount;
        }
    });

    /// <summary>MemTotal in MiB, read once; null where /proc/meminfo does not say.</summary>
    public static long? TotalMemoryMb => TotalMemory.Value;

    private static readonly Lazy<long?> TotalMemory = new(() =>
    {
        try
        {
            foreach (var line in File.ReadLines(MemInfoPath))
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                    return Kilobytes(line.AsSpan("MemTotal:".Length)) is { } kb ? (long)(kb / 1024) : null;
        }
        catch (IOException)
        {
        }
        return null;
    });

    public static async Task<(CpuTimes? Cpu, double? MemoryPercent)> SampleAsync(CancellationToken ct)
    {
        var stat = File.ReadAllTextAsync(StatPath, ct);
        var meminfo = File.ReadAllTextAsync(MemInfoPath, ct);
        return (ParseStat(await stat), ParseMemoryPercent(await meminfo));
    }

    private static ulong? Kilobytes(ReadOnlySpan<char> rest)
    {
        var text = rest.Trim();
        var space = text.IndexOf(' ');
        if (space > 0) text = text[..space];
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb : null;
    }
}
