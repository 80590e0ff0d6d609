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
    public void A_guide_s_cores_count_for_two_sampling_intervals_and_its_memory_until_it_is_free()
    {
        var fit = new ResourceFit(Limits, cores: 4, totalMemoryMb: 1000);
        fit.Started("guide-1", Task(cpu: 1, memoryMb: 300), Now);
        Assert.NotNull(fit.WhyNot(Task(cpu: 1), Sample(50, 10), Now.AddMilliseconds(500))); // 50 + 25 (started) + 25 > 90
        Assert.Null(fit.WhyNot(Task(cpu: 1), Sample(50, 10), Now.AddSeconds(2.5))); // its use is in the sample by now
        Assert.NotNull(fit.WhyNot(Task(memoryMb: 300), Sample(10, 40), Now.AddMinutes(5))); // 40 + 30 (still running) + 30 > 90

        fit.Ended("guide-1");
        Assert.Null(fit.WhyNot(Task(memoryMb: 300), Sample(10, 40), Now.AddMinutes(5)));
    }

    [Fact]
    public void A_guide_that_takes_another_task_or_one_stopped_while_waiting_reserves_only_that()
    {
        var fit = new ResourceFit(Limits, cores: 4, totalMemoryMb: 1000);
        fit.Started("guide-1", Task(cpu: 2), Now);
        fit.Started("guide-1", Task(cpu: 1), Now); // the same guide again (a retry for a cluster slot): not twice
        Assert.Null(fit.WhyNot(Task(cpu: 1), Sample(30, 10), Now)); // 30 + 25 + 25
        fit.Started("guide-1", Task(cpu: 3) with { StoppedBy = "spec" }, Now); // claimed only to be ended stopped
        Assert.Null(fit.WhyNot(Task(cpu: 2), Sample(30, 10), Now)); // 30 + 50
    }

    [Fact]
    public void A_limit_of_100_percent_is_not_weighed_and_an_unknown_figure_counts_as_nothing_used()
    {
        var memoryOnly = new ResourceFit(AdmissionSettings.Create(100, 90, TimeSpan.FromSeconds(1)), cores: 4, totalMemoryMb: 1000);
        Assert.Null(memoryOnly.WhyNot(Task(cpu: 8), Sample(99, 10), Now)); // cpu not weighed at 100 %
        Assert.NotNull(memoryOnly.WhyNot(Task(memoryMb: 950), Sample(99, null), Now)); // unknown memory: 0 + 95 % > 90 %

        var noTotal = new ResourceFit(Limits, cores: 4, totalMemoryMb: null);
        Assert.Null(noTotal.WhyNot(Task(memoryMb: 10_000), Sample(10, 50), Now)); // MemTotal unknown: memory not weighed
        Assert.NotNull(noTotal.WhyNot(Task(cpu: 4), Sample(null, null), Now)); // before the first cpu figure: 0 + 100 % > 90 %
    }
}
