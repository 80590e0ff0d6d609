using Akka.Configuration;
using Hive.Actors.Admission;
using Hive.Actors.Configuration;
using Hive.Actors.Hosting;
using Xunit;

namespace Hive.Tests.Cluster;

/// <summary>The cluster and admission settings: defaults, HOCON rendering, /proc parsing and the gate's verdicts.</summary>
public sealed class ClusterSettingsSpecs
{
    [Fact]
    public void The_defaults_are_a_20s_stable_after_down_all_when_unstable_on_90_percent_admission_limits_sampled_every_second_and_a_100ms_scheduler_tick()
    {
        var settings = HiveSettings.FromConfig(HiveSettings.DefaultConfig);
        Assert.Equal(TimeSpan.FromSeconds(20), settings.StableAfter);
        Assert.Equal("on", settings.DownAllWhenUnstable);
        Assert.Equal(90, settings.Admission.MaxCpuPercent);
        Assert.Equal(90, settings.Admission.MaxMemoryPercent);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.Admission.Interval);
        Assert.Equal(TimeSpan.FromMilliseconds(100), settings.AkkaOverrides.GetTimeSpan("akka.scheduler.tick-duration"));
        Assert.False(settings.AkkaOverrides.HasPath("hive"));
    }

    [Fact]
    public void The_split_brain_resolver_settings_render_into_akka_cluster_split_brain_resolver()
    {
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString("""
            hive.cluster.stable-after = 5s
            hive.cluster.down-all-when-unstable = off
            """));
        var akka = ConfigurationFactory.ParseString(HiveHostingExtensions.SplitBrainResolverHocon(settings));
        Assert.Equal(TimeSpan.FromSeconds(5), akka.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        Assert.Equal("off", akka.GetString("akka.cluster.split-brain-resolver.down-all-when-unstable"));

        var duration = HiveSettings.FromConfig(ConfigurationFactory.ParseString("hive.cluster.down-all-when-unstable = 15s"));
        Assert.Equal("15s", duration.DownAllWhenUnstable);
    }

    [Fact]
    public void A_down_all_when_unstable_that_is_neither_on_off_nor_a_duration_is_refused_with_the_setting_named()
    {
        var error = Assert.ThrowsAny<Exception>(() => HiveSettings.FromConfig(ConfigurationFactory.ParseString("hive.cluster.down-all-when-unstable = sometimes")));
        Assert.Contains("hive.cluster.down-all-when-unstable", error.Message);
    }

    [Fact]
    public void Akka_keys_in_a_config_file_reach_the_actor_system_over_hive_s_own_settings()
    {
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString("""
            hive.node.guides = 3
            akka.cluster.failure-detector.acceptable-heartbeat-pause = 3s
            akka.cluster.failure-detector.heartbeat-interval = 1s
            akka.scheduler.tick-duration = 10ms
            """));
        Assert.Equal(3, settings.Guides);
        Assert.Equal(TimeSpan.FromMilliseconds(10), settings.AkkaOverrides.GetTimeSpan("akka.scheduler.tick-duration"));
        Assert.Equal(TimeSpan.FromSeconds(3), settings.AkkaOverrides.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause"));
        Assert.Equal(TimeSpan.FromSeconds(1), settings.AkkaOverrides.GetTimeSpan("akka.cluster.failure-detector.heartbeat-interval"));
        Assert.False(settings.AkkaOverrides.HasPath("hive"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public void An_admission_limit_outside_0_to_100_percent_is_refused(double percent)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => AdmissionSettings.Default.WithMaxMemoryPercent(percent));
        Assert.Contains("max-memory-percent", error.Message);
    }

    [Fact]
    public void Cpu_busy_share_comes_from_the_aggregate_cpu_line_of_proc_stat_over_the_interval()
    {
        // user nice system idle iowait irq softirq steal guest guest_nice
        var before = HostResources.ParseStat("cpu  100 0 50 800 50 0 0 0 7 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n")!.Value;
        var after = HostResources.ParseStat("cpu  250 0 100 850 50 0 0 0 9 0\ncpu0 1 1 1 1 1 0 0 0 0 0\n")!.Value;
        Assert.Equal(150UL, before.Busy);
        Assert.Equal(1000UL, before.Total);
        Assert.Equal(80, after.BusyPercentSince(before)!.Value, 3); // 200 busy of 250 ticks
        Assert.Null(before.BusyPercentSince(before));
        Assert.Null(HostResources.ParseStat("intr 1\n"));
    }

    [Fact]
    public void Memory_in_use_is_one_minus_mem_available_over_mem_total()
    {
        const string meminfo = "MemTotal:       24684084 kB\nMemFree:         1000000 kB\nMemAvailable:    2468408 kB\nBuffers: 1 kB\n";
        Assert.Equal(90, HostResources.ParseMemoryPercent(meminfo)!.Value, 3);
        Assert.Null(HostResources.ParseMemoryPercent("MemTotal: 100 kB\n"));
        Assert.NotNull(HostResources.ParseMemoryPercent(File.ReadAllText(HostResources.MemInfoPath)));
    }

    [Fact]
    public void The_gate_closes_above_a_limit_naming_memory_first_and_opens_at_or_below_it_or_without_figures()
    {
        var limits = AdmissionSettings.Create(80, 90, TimeSpan.FromSeconds(1));
        Assert.Equal("open", AdmissionStatus.Evaluate(80, 90, limits).Describe());
        Assert.Equal("open", AdmissionStatus.Evaluate(null, null, limits).Describe());
        Assert.Equal("closed: memory 93% > 90%", AdmissionStatus.Evaluate(10, 93, limits).Describe());
        Assert.Equal("closed: cpu 80.5% > 80%", AdmissionStatus.Evaluate(80.5, 50, limits).Describe());
        Assert.Equal("closed: memory 91% > 90%, cpu 99% > 80%", AdmissionStatus.Evaluate(99, 91, limits).Describe());
        Assert.False(AdmissionStatus.Evaluate(99, 91, limits).Open);
    }
}
