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
            switch (Decide(entry, memberGone: !alive.Contains(entry.MemberUid), now))
            {
                case ReaperAction.Release:
                    _log.Info("Task {TaskId}: its node {Member} left the cluster; releasing the claim", taskId, entry.MemberUid);
                    _entities.Tell(new TaskEntityCommands.Release(taskId, entry.MemberUid, "its node left the cluster"));
                    break;
                case ReaperAction.Wake:
                    _entities.Tell(new TaskEntityCommands.Wake(taskId));
                    break;
            }
        }
    }

    /// <summary>
    /// What one index entry needs. A requeue or a result delivery is woken when its member is gone, and also once its
    /// check time has passed although the member is alive: the entity may have been passivated (idle, or its shard
    /// moved) while it was still retrying a failing publish, and with it went the timer of its next try.
    /// </summary>
    public static ReaperAction Decide(OpenTaskEntry entry, bool memberGone, long nowUnixMs) => entry.Phase switch
    {
        "claimed" when memberGone => ReaperAction.Release,
        "retry" when entry.DueAtUnixMs <= nowUnixMs => ReaperAction.Wake,
        "requeue" or "deliver" when memberGone || entry.DueAtUnixMs <= nowUnixMs => ReaperAction.Wake,
        "unknown" => ReaperAction.Wake,
        _ => ReaperAction.None,
    };

    public enum ReaperAction { None, Release, Wake }

    private sealed record ScanDone(Exception? Error);

    private sealed class Tick : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Tick Instance = new();
        private Tick() { }
    }
}
