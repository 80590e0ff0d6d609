using Akka.Configuration;
using Hive.Actors.Admission;
using Xunit;

namespace Hive.Tests.Admission;

/// <summary>The admission gate against scripted samples instead of /proc; its parent (the monitor) is the test actor.</summary>
public sealed class ResourceGateSpecs : Akka.TestKit.Xunit.TestKit
{
    private static readonly AdmissionSettings Limits = AdmissionSettings.Create(90, 90, TimeSpan.FromMilliseconds(100));

    public ResourceGateSpecs(ITestOutputHelper output)
        : base(ConfigurationFactory.ParseString("akka.loglevel = INFO"), "resource-gate-spec", output) { }

    [Fact]
    public void A_gate_closed_by_a_full_memory_opens_again_when_the_machine_can_no_longer_be_read()
    {
        var samples = 0;
        Task<(CpuTimes?, double?)> Sample(CancellationToken _) => Interlocked.Increment(ref samples) == 1
            ? Task.FromResult<(CpuTimes?, double?)>((null, 97.0))
            : Task.FromException<(CpuTimes?, double?)>(new IOException("/proc/meminfo: permission denied"));
        ChildActorOf(ResourceGateActor.Props(Limits, Sample));

        var closed = ExpectMsg<AdmissionStatus>(TimeSpan.FromSeconds(5));
        Assert.False(closed.Open);
        Assert.Equal("closed: memory 97% > 90%", closed.Describe());
        var unreadable = ExpectMsg<AdmissionStatus>(TimeSpan.FromSeconds(5));
        Assert.True(unreadable.Open, unreadable.Describe());
    }

    [Fact]
    public void The_cpu_figure_is_the_busy_share_between_two_samples()
    {
        var samples = 0;
        Task<(CpuTimes?, double?)> Sample(CancellationToken _) => Task.FromResult<(CpuTimes?, double?)>(Interlocked.Increment(ref samples) switch
        {
            1 => (new CpuTimes(1_000, 10_000), 10.0),
            _ => (new CpuTimes(1_950, 11_000), 10.0), // 950 of 1,000 ticks busy
        });
        ChildActorOf(ResourceGateActor.Props(Limits, Sample));

        Assert.True(ExpectMsg<AdmissionStatus>(TimeSpan.FromSeconds(5)).Open); // no CPU figure from a single sample
        var busy = ExpectMsg<AdmissionStatus>(TimeSpan.FromSeconds(5));
        Assert.False(busy.Open);
        Assert.Equal(95.0, busy.CpuPercent!.Value, 1);
    }
}
