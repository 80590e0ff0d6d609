using System.Diagnostics.Metrics;
using Hive.Actors.Contracts;
using Hive.Persistence.Redis.Journal;
using Prometheus;

namespace Hive.Actors.Metrics;

/// <summary>
/// The node's Prometheus metrics (prometheus-net's default registry, served at <c>/metrics</c> by the HTTP API).
/// Incremented where the events happen: guides (ends, durations, queue wait), the monitor (guides busy/free),
/// the callback sender (failures), and the Redis journal's write latency (bridged from its .NET meter by
/// <see cref="ListenToJournal"/>).
/// </summary>
public static class HiveMetrics
{
    private static readonly double[] DurationBuckets = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

    /// <summary>Tasks that ended on this node, by final state (<c>succeeded</c>, <c>failed</c>, … ; retried attempts are not ends).</summary>
    public static readonly Counter TasksFinished = Prometheus.Metrics.CreateCounter(
        "hive_tasks_finished_total", "Tasks whose final attempt ended on this node, by final state.",
        new CounterConfiguration { LabelNames = ["state"] });

    /// <summary>Attempts that ended on this node, by the attempt's own state (a failed attempt that is retried counts here).</summary>
    public static readonly Counter AttemptsEnded = Prometheus.Metrics.CreateCounter(
        "hive_task_attempts_ended_total", "Task attempts that ended on this node, by the attempt's state.",
        new CounterConfiguration { LabelNames = ["state"] });

    /// <summary>From the attempt's start to its end, by script.</summary>
    public static readonly Histogram TaskDuration = Prometheus.Metrics.CreateHistogram(
        "hive_task_duration_seconds", "Run time of a task attempt on this node (start to end), by script.",
        new HistogramConfiguration { LabelNames = ["script"], Buckets = DurationBuckets });

    /// <summary>From the node receiving the task (queued) to its script starting (accepted and running).</summary>
    public static readonly Histogram QueueWait = Prometheus.Metrics.CreateHistogram(
        "hive_task_queue_wait_seconds", "Time from a task reaching this node to its script starting.",
        new HistogramConfiguration { Buckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    /// <summary>Guides running (or claiming, or reporting) a task.</summary>
    public static readonly Gauge GuidesBusy = Prometheus.Metrics.CreateGauge("hive_guides_busy", "Guides of this node that hold a task.");

    /// <summary>Guides waiting for a task.</summary>
    public static readonly Gauge GuidesFree = Prometheus.Metrics.CreateGauge("hive_guides_free", "Guides of this node that are free.");

    /// <summary>Callback POSTs that failed after every retry.</summary>
    public static readonly Counter CallbackFailures = Prometheus.Metrics.CreateCounter(
        "hive_callback_failures_total", "Callback POSTs (acceptUrl, responseUrl) that failed after all retries.");

    /// <summary>Seconds to write one batch of events to the Redis journal (fed from the journal's .NET meter).</summary>
    public static readonly Histogram JournalWriteDuration = Prometheus.Metrics.CreateHistogram(
        "hive_journal_write_duration_seconds", "Time the Redis journal takes to write one batch of events.",
        new HistogramConfiguration { Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });

    private static readonly Lazy<MeterListener> JournalListener = new(() =>
    {
        // prometheus-net's meter adapter leaves .NET histograms out, so the journal's histogram is bridged here.
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                // Runs inside the instrument's constructor (the journal's static initializer): touch nothing of it but constants.
                if (instrument.Meter.Name == RedisJournalMetrics.MeterName && instrument.Name == RedisJournalMetrics.WriteDurationName)
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => JournalWriteDuration.Observe(seconds));
        listener.Start();
        return listener;
    });

    /// <summary>Starts feeding <see cref="JournalWriteDuration"/> from the journal's meter (idempotent).</summary>
    public static void ListenToJournal() => _ = JournalListener.Value;

    /// <summary>Records the end of an attempt: its state, its duration, and — when it is the task's last — the final state.</summary>
    public static void AttemptEnded(TaskState state, bool final, string? script, TimeSpan? duration)
    {
        var wire = state.ToWire();
        AttemptsEnded.WithLabels(wire).Inc();
        if (final) TasksFinished.WithLabels(wire).Inc();
        if (duration is { } d && d >= TimeSpan.Zero) TaskDuration.WithLabels(script ?? "command").Observe(d.TotalSeconds);
    }

    /// <summary>Sets the guide gauges.</summary>
    public static void Guides(int busy, int free)
    {
        GuidesBusy.Set(busy);
        GuidesFree.Set(free);
    }
}
