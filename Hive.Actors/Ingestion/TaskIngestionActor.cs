using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Util;
using Hive.Actors.Contracts;
using Hive.Actors.Guides;
using Hive.Actors.Hosting;
using Hive.Actors.Messaging;
using Hive.Actors.Processes;
using Hive.Actors.Progress;
using Hive.Streams.Amqp;
using Hive.Streams.Amqp.Dsl;

namespace Hive.Actors.Ingestion;

/// <summary>
/// Owns the task stream: RabbitMQ (manual ack, prefetch = guides) → parse and validate → the monitor,
/// which signals demand only while a guide is free. A message that cannot be a task is dead-lettered
/// with its reason, a <c>rejected</c> result is published, and the message is acknowledged: never retried,
/// never stopping the stream.
/// </summary>
public sealed class TaskIngestionActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HiveServices _services;
    private readonly AmqpConnectionProvider _amqp;
    private readonly IActorRef _monitor;
    private readonly IActorRef _status;
    private readonly TaskParserOptions _parserOptions;
    private UniqueKillSwitch? _killSwitch;
    private bool _parked;
    private bool _stopped;

    public TaskIngestionActor(HiveServices services, AmqpConnectionProvider amqp, ScriptCatalog catalog, IActorRef monitor, IActorRef statusWriter)
    {
        _services = services;
        _amqp = amqp;
        _monitor = monitor;
        _status = statusWriter;
        var s = services.Settings;
        _parserOptions = new TaskParserOptions(s.MaxBodyBytes, s.AllowCommands, catalog.Check,
            s.DefaultMaxAttempts, s.DefaultProgressLength, s.DefaultResultLength, s.MaxArgsDepth);

        Receive<NodeCapacity>(OnCapacity);
        Receive<ParkTick>(_ => Park());
        Receive<StopIngestion>(_ =>
        {
            _stopped = true;
            _killSwitch?.Shutdown();
            Sender.Tell(Done.Instance);
        });
    }

    public static Props Props(HiveServices services, AmqpConnectionProvider amqp, ScriptCatalog catalog, IActorRef monitor, IActorRef statusWriter) =>
        ActorFactory.Props(() => new TaskIngestionActor(services, amqp, catalog, monitor, statusWriter));

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(NodeCapacity));
        StartStream();
    }

    /// <summary>
    /// Parking: while the node can take nothing, the deliveries prefetched onto it would wait here for as long as
    /// its scripts run. After hive.node.park-after the stream is shut down (the source cancels its consumer and the
    /// broker requeues what it had delivered), and a new one starts as soon as a guide is free.
    /// </summary>
    private void OnCapacity(NodeCapacity capacity)
    {
        if (_stopped) return;
        var parkAfter = _services.Settings.ParkAfter;
        if (capacity.CanTake)
        {
            Timers.Cancel("park");
            if (!_parked) return;
            _parked = false;
            _log.Info("A guide is free: consuming tasks again");
            StartStream();
        }
        else if (!_parked && parkAfter > TimeSpan.Zero && !Timers.IsTimerActive("park"))
        {
            Timers.StartSingleTimer("park", ParkTick.Instance, parkAfter);
        }
    }

    private void Park()
    {
        if (_parked || _stopped) return;
        _parked = true;
        _log.Info("Every guide busy for {ParkAfter}: handing prefetched tasks back to the queue until a guide is free", _services.Settings.ParkAfter);
        _killSwitch?.Shutdown();
    }

    private void StartStream()
    {
        var s = _services.Settings;
        // A parked stream's channel stays open until what it handed over is settled: a delivery waiting for a run of its
        // script (the monitor) is settled within 1.5 x park-after, so the channel waits at least twice that.
        var drainTimeout = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(10).Ticks, 2 * s.ParkAfter.Ticks));
        var source = NamedQueueSourceSettings.Create(_amqp, s.TaskQueue)
            .WithDeclarations(HiveTopology.TaskQueue(s), HiveTopology.DeadLetterQueue(s))
            .WithDrainTimeout(drainTimeout);
        // A failed source (broker unreachable at start, channel closed by the broker) is started again with
        // backoff instead of leaving the node up but deaf; unacknowledged deliveries go back to the queue.
        var restarting = RestartSource.OnFailuresWithBackoff(() => AmqpSource.CommittableSource(source, bufferSize: s.Guides)
                .SelectAsync(4, TriageAsync)
                .Where(d => d.HasValue)
                .Select(d => d.Value),
            RestartSettings.Create(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2));
        _killSwitch = restarting
            .ViaMaterialized(KillSwitches.Single<TaskDelivery>(), Keep.Right)
            .To(Sink.ActorRefWithAck<TaskDelivery>(_monitor, StreamInit.Instance, StreamAck.Instance, StreamCompleted.Instance, e => new Status.Failure(e)))
            .Run(Context.Materializer());
    }

    protected override void PostStop() => _killSwitch?.Shutdown();

    /// <summary>A delivery for the monitor, or nothing when the message was dead-lettered (a stream element may not be null).</summary>
    private async Task<Option<TaskDelivery>> TriageAsync(CommittableIncomingMessage message)
    {
        var props = message.Message.Properties;
        var requeued = props.Headers is { } amqpHeaders && amqpHeaders.TryGetValue(RabbitHiveBus.RequeuedHeader, out var flag) && flag is true;
        var headers = new TaskMessageHeaders(props.MessageId, props.CorrelationId, props.ReplyTo, _services.Settings.TaskQueue, requeued);
        var outcome = TaskParser.Parse(message.Message.Body.Span, headers, _parserOptions);
        switch (outcome)
        {
            case ParseOutcome.Accepted accepted:
                return new TaskDelivery(accepted.Spec, DateTimeOffset.UtcNow, () => message.Ack(), requeue => message.Nack(requeue: requeue),
                    accepted.Manifest?.MaxConcurrentPerNode, accepted.Manifest?.MaxConcurrentPerCluster)
                {
                    ExpectedCpu = accepted.Manifest?.ExpectedCpu,
                    ExpectedMemoryMb = accepted.Manifest?.ExpectedMemoryMb,
                };
            case ParseOutcome.Rejected rejected:
                await RejectAsync(message, rejected, props.ReplyTo);
                return Option<TaskDelivery>.None;
            default:
                throw new InvalidOperationException("unknown parse outcome");
        }
    }

    /// <summary>
    /// True when hive:task:&lt;id&gt; describes a task a node has seen; false when there is none, when it is only the
    /// <c>queued</c> placeholder the HTTP API writes on submission (attempt 0: this message is that task, and its rejection
    /// must be reported), or when Redis cannot tell (the rejection is then reported as usual).
    /// </summary>
    private async Task<bool> StatusExistsAsync(string taskId)
    {
        try
        {
            var value = await _services.Redis.GetDatabase().StringGetAsync(RedisKeys.Task(taskId));
            if (value.IsNull) return false;
            return TaskStatusJson.FromJson(value.ToString()) is not { State: TaskState.Queued, Attempt: 0 };
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            return false;
        }
    }

    private async Task RejectAsync(CommittableIncomingMessage message, ParseOutcome.Rejected rejected, string? replyTo)
    {
        var props = message.Message.Properties;
        _log.Warning("Dead-lettering a task message (id {TaskId}): {Reason}", rejected.TaskId ?? "none", rejected.Reason);
        try
        {
            var originalHeaders = props.Headers is null ? null : new Dictionary<string, object?>(props.Headers);
            await _services.Bus.DeadLetterAsync(message.Message.Body, rejected.Reason, originalHeaders, props.MessageId, props.CorrelationId);
            if (rejected.TaskId is { } taken && await StatusExistsAsync(taken))
            {
                // A malformed message carrying the id of a task that exists (running, queued, or ended) must not end that
                // task in the eyes of its backend: no 'rejected' result or status for its id. The dead letter keeps the reason.
                _log.Warning("Task {TaskId}: a malformed message carried the id of an existing task; dead-lettered, the task is left alone", taken);
                await message.Ack();
                return;
            }
            var now = DateTimeOffset.UtcNow;
            var result = TaskResult.Rejected(rejected.TaskId ?? props.MessageId ?? "unknown", rejected.Reason, now, _services.Settings.NodeName);
            await _services.Bus.PublishResultAsync(result, replyTo, props.CorrelationId);
            if (rejected.TaskId is { } id)
                _status.Tell(new StatusUpdate(new TaskStatusDocument(id, null, TaskState.Rejected, _services.Settings.NodeName, null, 0, null, null,
                    Array.Empty<string>(), 0, now, null, now, null, result.Reason, null, null), "rejected"));
            await message.Ack();
        }
        catch (Exception e)
        {
            _log.Error(e, "Dead-lettering failed; the message goes back to the queue");
            await message.Nack(requeue: true);
        }
    }
}

/// <summary>Published by the monitor on the event stream whenever the node's ability to take a task changes.</summary>
public sealed record NodeCapacity(bool CanTake);

internal sealed class ParkTick : INotInfluenceReceiveTimeout, IDeadLetterSuppression
{
    public static readonly ParkTick Instance = new();
    private ParkTick() { }
}

/// <summary>Stops taking tasks (first step of draining); answered with Done.</summary>
public sealed class StopIngestion
{
    public static readonly StopIngestion Instance = new();
    private StopIngestion() { }
}
