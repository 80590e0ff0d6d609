using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Hive.Bench;

/// <summary>What the figures were measured on, and how busy the machine was.</summary>
internal static class Machine
{
    public static string Describe()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memKb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return $"{cpu}, {Environment.ProcessorCount} cores, {long.Parse(memKb) / 1024 / 1024.0:F1} GiB RAM, {RuntimeInformation.OSDescription.Trim()}, " +
               $".NET {Environment.Version}, {Tool("/usr/bin/redis-server", "--version")}, load {LoadAverage()}";
    }

    /// <summary>The 1, 5 and 15 minute load averages.</summary>
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    /// <summary>Monotonic nanoseconds: Stopwatch uses CLOCK_MONOTONIC on Linux, the clock the probe tasks read.</summary>
    public static long NowNs() => (long)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    private static string Tool(string path, string arg)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(path, arg) { RedirectStandardOutput = true })!;
            var text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return text.Split(' ').Take(3).Aggregate((a, b) => a + " " + b);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return $"{Path.GetFileName(path)} unknown";
        }
    }
}
