using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Hive.Actors.Configuration;
using Hive.Actors.Entities;
using Hive.Actors.Guides;
using Hive.Actors.Hosting;
using Hive.Actors.Processes;
using Hive.Tests.Entities;
using Hive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit;
using static Hive.Actors.Entities.TaskEntityCommands;
using static Hive.Actors.Entities.TaskEntityReplies;

namespace Hive.Tests.Guides;

/// <summary>
/// The monitor as the task stream's sink, with one guide: test probes play the streams (Sink.ActorRefWithAck's side of
/// the handshake) and the task entities (a claim reaching them is a dispatched delivery). Parking replaces the stream;
/// the replaced one may still hold deliveries it had buffered and complete late.
/// </summary>
public sealed class MonitorStreamSpecs : Akka.TestKit.Xunit.TestKit, IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);
    private readonly IConnectionMultiplexer _redis;
    private readonly TestProbe _entities;
    private readonly IActorRef _monitor;
    private readonly List<(string TaskId, string Settled)> _settled = new();

    public MonitorStreamSpecs(RedisFixture fixture, ITestOutputHelper output) : base(Hocon, "monitor-stream-spec", output)
    {
        _redis = ConnectionMultiplexer.Connect(fixture.Redis.ConnectionString);
        var settings = HiveSettings.FromConfig(ConfigurationFactory.ParseString("""
                hive.node.guides = 1
                hive.node.name = monitor-spec
                hive.node.idle-trim-after = 0s
                """)
            .WithFallback(HiveSettings.DefaultConfig));
        var services = new HiveServices(settings, new RecordingBus(), new RecordingCallbacks(), _redis, new OpenTaskIndex(_redis));
        _entities = CreateTestProbe();
        _monitor = Sys.ActorOf(MonitorActor.Props(services, new ScriptCatalog(ScriptCatalogSettings.Create(RepoPaths.Tasks)), _entities.Ref,
            CreateTestProbe().Ref), "monitor");
    }

    private static Config Hocon => ConfigurationFactory.ParseString("""
        akka.loglevel = INFO
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        """);

    protected override void AfterAll()
    {
        base.AfterAll();
        _redis.Dispose();
    }

    private TaskDelivery Delivery(string taskId) => new(EntitySamples.Spec(taskId), DateTimeOffset.UtcNow,
        () => Settle(taskId, "ack"), requeue => Settle(taskId, requeue ? "requeue" : "drop"));

    private Task Settle(string taskId, string how)
    {
        lock (_settled) _settled.Add((taskId, how));
        return Task.CompletedTask;
    }

    private (string TaskId, string Settled)[] Settled()
    {
        lock (_settled) return [.. _settled];
    }

    /// <summary>The guide's claim for <paramref name="taskId"/> reached the entities: the delivery was dispatched.</summary>
    private IActorRef ExpectClaim(string taskId)
    {
        var claim = _entities.ExpectMsg<Claim>(TimeSpan.FromSeconds(5));
        Assert.Equal(taskId, claim.TaskId);
        return _entities.LastSender;
    }

    [Fact]
    public void A_parked_stream_that_completes_after_its_replacement_started_does_not_take_the_replacements_demand_away()
    {
        var parked = CreateTestProbe();
        var replacement = CreateTestProbe();

        parked.Send(_monitor, StreamInit.Instance);
        parked.ExpectMsg<StreamAck>();
        parked.Send(_monitor, Delivery("running"));
        var claimant = ExpectClaim("running");
        parked.ExpectNoMsg(Quiet); // the only guide is busy: no demand

        // Parked, then a new stream once a guide is free; the old one completes only after the new one introduced itself.
        replacement.Send(_monitor, StreamInit.Instance);
        parked.ExpectMsg<StreamAck>(); // demand to hand over what it still buffers
        replacement.ExpectNoMsg(Quiet);
        parked.Send(_monitor, Delivery("buffered"));
        parked.ExpectMsg<StreamAck>();
        AwaitAssert(() => Assert.Contains(("buffered", "requeue"), Settled()));
        parked.Send(_monitor, StreamCompleted.Instance);
        _entities.ExpectNoMsg(Quiet); // the buffered delivery went back to the queue, not to a guide

        // The guide frees up: the replacement gets the demand, and its delivery runs.
        claimant.Tell(new ClaimRefused("running", "already ended succeeded", false));
        replacement.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5));
        replacement.Send(_monitor, Delivery("next"));
        ExpectClaim("next");
        Assert.DoesNotContain(Settled(), s => s.TaskId == "next");
    }

    [Fact]
    public void A_delivery_buffered_by_the_stream_when_draining_begins_goes_back_to_the_queue_and_the_stream_can_empty()
    {
        var stream = CreateTestProbe();
        stream.Send(_monitor, StreamInit.Instance);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("running"));
        var claimant = ExpectClaim("running");
        stream.ExpectNoMsg(Quiet);

        _monitor.Tell(Drain.Instance, TestActor);
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("buffered-1"));
        stream.ExpectMsg<StreamAck>();
        stream.Send(_monitor, Delivery("buffered-2"));
        stream.ExpectMsg<StreamAck>();
        AwaitAssert(() =>
        {
            Assert.Contains(("buffered-1", "requeue"), Settled());
            Assert.Contains(("buffered-2", "requeue"), Settled());
        });
        _entities.ExpectNoMsg(Quiet);

        claimant.Tell(new ClaimRefused("running", "already ended succeeded", false));
        ExpectMsg<Drained>(TimeSpan.FromSeconds(5));
    }
}
