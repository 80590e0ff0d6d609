using Hive.Actors.Admission;
using Hive.Actors.Guides;
using Hive.Tests.Entities;
using Xunit;

namespace Hive.Tests.Admission;

/// <summary>A task's expected resources (manifest expectedCpu / expectedMemoryMb) against the admission limits.</summary>
public sealed class ResourceFitSpecs
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-11-28T12:00:00Z");
    private static readonly AdmissionSettings Limits = AdmissionSettings.Create(90, 90, TimeSpan.FromSeconds(1));

    private static TaskDelivery Task(double? cpu = null, long? memoryMb = null) =>
        new(EntitySamples.Spec("t"), Now, () => System.Threading.Tasks.Task.CompletedTask, _ => System.Threading.Tasks.Task.CompletedTask)
        {
            ExpectedCpu = cpu,
            ExpectedMemoryMb = memoryMb,
        };

    private static AdmissionStatus Sample(double? cpu, double? memory) => new(true, cpu, memory, null);

    [Fact]
    public void Expected_cores_fit_while_the_last_sample_plus_them_stays_under_the_cpu_limit()
    {
        var fit = new ResourceFit(Limits, cores: 4, totalMemoryMb: 1000);
        Assert.Null(fit.WhyNot(Task(cpu: 1), Sample(50, 10), Now)); // 50 % + 25 % <= 90 %
        Assert.Equal("expects 2 cores of 4: cpu 50% + 50% > 90%", fit.WhyNot(Task(cpu: 2), Sample(50, 10), Now));
        Assert.Null(fit.WhyNot(Task(), Sample(99, 99), Now)); // a task that expects nothing always fits
    }

    [Fact]
    public void Expected_memory_fits_while_the_last_sample_plus_it_stays_under_the_memory_limit()
    {
        var fit = new ResourceFit(Limits, cores: 4, totalMemoryMb: 1000);
        Assert.Null(fit.WhyNot(Task(memoryMb: 300), Sample(10, 50), Now));
        Assert.Equal("expects 500 MB: memory 50% + 50% > 90%", fit.WhyNot(Task(memoryMb: 500), Sample(10, 50), Now));
    }

    [Fact]
    public void Tasks_started_since_shortly_before_the_sample_count_with_what_they_expect_until_the_samples_can_show_it()
    {
        var fit = new ResourceFit(Limits, cores: 4, totalMemoryMb: 1000);
        fit.Started(Task(cpu: 1), Now);
        Assert.NotNull(fit.WhyNot(Task(cpu: 1), Sample(50, 10), Now.AddMilliseconds(500))); // 50 + 25 (started) + 25 > 90
        Assert.Null(fit.WhyNot(Task(cpu: 1), Sample(50, 10), Now.AddSeconds(2.5))); // its use is in the sample by now
    }

    [Fact]
    public void Unknown_figures_and_limits_of_100_percent_admit_everything()
    {
        Assert.Null(new ResourceFit(Limits, cores: 4, totalMemoryMb: null).WhyNot(Task(memoryMb: 10_000), Sample(10, 50), Now));
        Assert.Null(new ResourceFit(Limits, cores: 4, totalMemoryMb: 1000).WhyNot(Task(cpu: 8), Sample(null, null), Now));
        var off = new ResourceFit(AdmissionSettings.Create(100, 100, TimeSpan.FromSeconds(1)), cores: 4, totalMemoryMb: 1000);
        Assert.False(off.Enabled);
        Assert.Null(off.WhyNot(Task(cpu: 8, memoryMb: 10_000), Sample(99, 99), Now));
    }
}
