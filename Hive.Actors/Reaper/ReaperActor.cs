using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Hive.Actors.Entities;
using Hive.Actors.Hosting;

namespace Hive.Actors.Reaper;

/// <summary>
/// Cluster singleton. Every interval it reads the open-task index and wakes the entities that need it:
/// claims held by a member that is no longer in the cluster are released (next attempt, or dead when
/// attempts are spent), due retries are re-queued, and work owed by a departed member's entities
/// (a requeue or a result delivery) is resumed where sharding now hosts them.
/// </summary>
public sealed class ReaperActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HiveServices _services;
    private readonly IActorRef _entities;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private bool _scanning;

    public ReaperActor(HiveServices services, IActorRef entities)
    {
        _services = services;
        _entities = entities;
        Receive<Tick>(_ => Scan());
        Receive<ScanDone>(done =>
        {
            _scanning = false;
            if (done.Error is not null) _log.Warning("Reaper scan failed: {Error}", done.Error.GetBaseException().Message);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(HiveServices services, IActorRef entities) => ActorFactory.Props(() => new ReaperActor(services, entities));

    protected override void PreStart() => Timers.StartPeriodicTimer("tick", Tick.Instance, _services.Settings.ReaperInterval);

    private void Scan()
    {
        if (_scanning || _cluster.SelfMember.Status != MemberStatus.Up) return;
        _scanning = true;
        // An unreachable member still counts until the split brain resolver downs it: a GC pause or a network blip
        // must not hand its running tasks to another node while its scripts go on (they would run twice at once).
        // A member that really died is downed after hive.cluster.stable-after, and its claims are released then.
        var alive = _cluster.State.Members
            .Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining or MemberStatus.Leaving)
            .Select(m => TaskEntityActor.MemberUid(m.UniqueAddress))
            .ToHashSet();
        var self = Self;
        ScanAsync(alive).PipeTo(self, success: () => new ScanDone(null), failure: e => new ScanDone(e));
    }

    private async Task ScanAsync(HashSet<string> alive)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var (taskId, entry) in await _services.Index.ReadAllAsync())
        {
            var memberGone = !alive.Contains(entry.MemberUid);
            switch (entry.Phase)
            {
                case "claimed" when memberGone:
                    _log.Info("Task {TaskId}: its node {Member} left the cluster; releasing the claim", taskId, entry.MemberUid);
                    _entities.Tell(new TaskEntityCommands.Release(taskId, entry.MemberUid, "its node left the cluster"));
                    break;
                case "retry" when entry.DueAtUnixMs <= now:
                case "requeue" when memberGone:
                case "deliver" when memberGone:
                case "unknown":
                    _entities.Tell(new TaskEntityCommands.Wake(taskId));
                    break;
            }
        }
    }

    private sealed record ScanDone(Exception? Error);

    private sealed class Tick : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Tick Instance = new();
        private Tick() { }
    }
}
