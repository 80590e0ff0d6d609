using Akka.Actor;
using Akka.Event;
using Hive.Actors.Hosting;

namespace Hive.Actors.Admission;

/// <summary>
/// Samples the machine's CPU (/proc/stat, busy share since the previous sample) and memory (/proc/meminfo) every
/// <see cref="AdmissionSettings.Interval"/>, off the actor thread, and tells its parent (the node's monitor) the
/// resulting <see cref="AdmissionStatus"/> after every sample. Where /proc cannot be read the gate stays open and
/// says so once in the log.
/// </summary>
public sealed class ResourceGateActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AdmissionSettings _settings;
    private readonly Func<CancellationToken, Task<(CpuTimes? Cpu, double? MemoryPercent)>> _sample;
    private readonly CancellationTokenSource _cts = new();
    private CpuTimes? _previousCpu;
    private bool _sampling;
    private bool _warned;

    public ResourceGateActor(AdmissionSettings settings, Func<CancellationToken, Task<(CpuTimes? Cpu, double? MemoryPercent)>>? sample = null)
    {
        _settings = settings;
        _sample = sample ?? HostResources.SampleAsync;
        Receive<Tick>(_ => StartSample());
        Receive<Sampled>(OnSampled);
        Receive<SampleFailed>(failed =>
        {
            _sampling = false;
            // Open, as documented: a gate closed by an earlier sample must not stay closed while nothing can be read.
            _previousCpu = null;
            Context.Parent.Tell(AdmissionStatus.Evaluate(null, null, _settings));
            if (_warned) return;
            _warned = true;
            _log.Warning("Admission cannot read {Stat} / {MemInfo} ({Error}); the node takes tasks whatever its load",
                HostResources.StatPath, HostResources.MemInfoPath, failed.Error.GetBaseException().Message);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(AdmissionSettings settings) => ActorFactory.Props(() => new ResourceGateActor(settings));

    /// <summary>With another source of samples than /proc (tests).</summary>
    internal static Props Props(AdmissionSettings settings, Func<CancellationToken, Task<(CpuTimes? Cpu, double? MemoryPercent)>> sample) =>
        ActorFactory.Props(() => new ResourceGateActor(settings, sample));

    protected override void PreStart() => Timers.StartPeriodicTimer("sample", Tick.Instance, TimeSpan.Zero, _settings.Interval);

    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
    }

    private void StartSample()
    {
        if (_sampling) return;
        _sampling = true;
        _sample(_cts.Token).PipeTo(Self,
            success: sample => new Sampled(sample.Cpu, sample.MemoryPercent),
            failure: e => new SampleFailed(e));
    }

    private void OnSampled(Sampled sample)
    {
        _sampling = false;
        double? cpuPercent = null;
        if (sample.Cpu is { } cpu)
        {
            if (_previousCpu is { } previous) cpuPercent = cpu.BusyPercentSince(previous);
            _previousCpu = cpu;
        }
        Context.Parent.Tell(AdmissionStatus.Evaluate(cpuPercent, sample.MemoryPercent, _settings));
    }

    private sealed record Sampled(CpuTimes? Cpu, double? MemoryPercent);

    private sealed record SampleFailed(Exception Error);

    private sealed class Tick : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Tick Instance = new();
        private Tick() { }
    }
}
