using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Hive.Actors.Contracts;
using Hive.Actors.Hosting;
using Hive.Actors.Messaging;
using Hive.Streams.Amqp;
using Hive.Streams.Amqp.Dsl;

namespace Hive.Actors.Ingestion;

/// <summary>
/// Owns the control stream: this node's exclusive queue bound to the fanout control exchange (and to the
/// seed's direct exchange with key hive.state) → parsed commands → the monitor, which routes them to the
/// guide running the task or, for a stop of a task not running here, cancels it in its entity.
/// </summary>
public sealed class ControlIngestionActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HiveServices _services;
    private readonly AmqpConnectionProvider _amqp;
    private readonly IActorRef _monitor;
    private UniqueKillSwitch? _killSwitch;

    public ControlIngestionActor(HiveServices services, AmqpConnectionProvider amqp, IActorRef monitor)
    {
        _services = services;
        _amqp = amqp;
        _monitor = monitor;
    }

    public static Props Props(HiveServices services, AmqpConnectionProvider amqp, IActorRef monitor) =>
        ActorFactory.Props(() => new ControlIngestionActor(services, amqp, monitor));

    protected override void PreStart()
    {
        var s = _services.Settings;
        var hive = AmqpSource.CommittableSource(
                TemporaryQueueSourceSettings.Create(_amqp, s.ControlExchange).WithDeclarations(HiveTopology.ControlExchange(s)), bufferSize: 64)
            .Select(m => (Message: m, Seed: false));
        var source = hive;
        if (s.SeedControl)
        {
            var seed = AmqpSource.CommittableSource(
                    TemporaryQueueSourceSettings.Create(_amqp, s.SeedControlExchange, s.SeedControlRoutingKey).WithDeclarations(HiveTopology.SeedControlExchange(s)), bufferSize: 64)
                .Select(m => (Message: m, Seed: true));
            source = hive.Merge(seed);
        }
        _killSwitch = RestartSource.OnFailuresWithBackoff(() => source.SelectAsync(1, HandleAsync),
                RestartSettings.Create(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2))
            .ViaMaterialized(KillSwitches.Single<Akka.Done>(), Keep.Right)
            .To(Sink.Ignore<Akka.Done>())
            .Run(Context.Materializer());
    }

    protected override void PostStop() => _killSwitch?.Shutdown();

    private async Task<Akka.Done> HandleAsync((CommittableIncomingMessage Message, bool Seed) input)
    {
        var message = input.Message.Message;
        var (command, error) = input.Seed
            ? ControlParser.ParseSeed(message.Body.Span, message.Properties.CorrelationId)
            : ControlParser.ParseHive(message.Body.Span);
        if (command is null)
            _log.Warning("Ignoring a control message: {Reason}", error);
        else
            _monitor.Tell(command);
        await input.Message.Ack();
        return Akka.Done.Instance;
    }
}
