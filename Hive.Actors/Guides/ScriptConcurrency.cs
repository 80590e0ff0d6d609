using Akka.Actor;

namespace Hive.Actors.Guides;

/// <summary>
/// A delivery waiting for a run of its script to end (the script is at its per-node limit), for its expected resources to
/// fit under the admission limits, or, with <paramref name="RetryAt"/>, for a slot of its script in the cluster (asked for
/// again from then on).
/// </summary>
public sealed record DeferredDelivery(TaskDelivery Delivery, IActorRef Stream, string Script, DateTimeOffset Since, DateTimeOffset? RetryAt = null);

/// <summary>
/// The monitor's bookkeeping for a script manifest's <c>maxConcurrentPerNode</c>: which script each busy guide runs,
/// and the deliveries that wait, unacknowledged, for a run of their script to end (or, for <c>maxConcurrentPerCluster</c>,
/// for their next try at a slot in the cluster). The limit travels on the delivery (read
/// from the manifest when the task was parsed), so nothing here touches the file system. Not thread-safe (the monitor's own).
/// </summary>
public sealed class ScriptConcurrency
{
    private readonly Dictionary<string, string> _running = new(StringComparer.Ordinal);
    private readonly LinkedList<DeferredDelivery> _waiting = new();

    /// <summary>Deliveries waiting; each holds one unit of the node's prefetch, so demand counts them as taken guides.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>True when the delivery's script already runs as often on this node as its manifest allows.</summary>
    public bool AtLimit(TaskDelivery delivery) =>
        delivery.Spec.Script is { } script && delivery.PerNodeLimit is { } limit && RunningCount(script) >= limit;

    public void Started(string guideId, TaskDelivery delivery)
    {
        if (delivery.Spec.Script is { } script) _running[guideId] = script;
        else _running.Remove(guideId);
    }

    public void Ended(string guideId) => _running.Remove(guideId);

    public void Defer(TaskDelivery delivery, IActorRef stream, DateTimeOffset since, DateTimeOffset? retryAt = null) =>
        _waiting.AddLast(new DeferredDelivery(delivery, stream, delivery.Spec.Script!, since, retryAt));

    /// <summary>
    /// Removes and returns the oldest waiting delivery whose script is now below its per-node limit, that
    /// <paramref name="fits"/> (its expected resources), and, when it waits for a cluster slot, whose next try is due by
    /// <paramref name="now"/>; null when there is none.
    /// </summary>
    public DeferredDelivery? TakeRunnable(DateTimeOffset now, Func<TaskDelivery, bool> fits)
    {
        for (var node = _waiting.First; node is not null; node = node.Next)
        {
            if (node.Value.RetryAt > now || AtLimit(node.Value.Delivery) || !fits(node.Value.Delivery)) continue;
            _waiting.Remove(node);
            return node.Value;
        }
        return null;
    }

    /// <summary>Removes and returns the waiting delivery of task <paramref name="taskId"/>, if one waits.</summary>
    public DeferredDelivery? TakeWaiting(string taskId)
    {
        for (var node = _waiting.First; node is not null; node = node.Next)
        {
            if (node.Value.Delivery.Spec.TaskId != taskId) continue;
            _waiting.Remove(node);
            return node.Value;
        }
        return null;
    }

    /// <summary>Removes and returns the deliveries waiting since before <paramref name="cutoff"/> (all of them when null).</summary>
    public IReadOnlyList<DeferredDelivery> TakeWaitingSince(DateTimeOffset? cutoff = null)
    {
        var taken = new List<DeferredDelivery>();
        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            if (cutoff is null || node.Value.Since <= cutoff)
            {
                taken.Add(node.Value);
                _waiting.Remove(node);
            }
            node = next;
        }
        return taken;
    }

    private int RunningCount(string script)
    {
        var count = 0;
        foreach (var running in _running.Values)
            if (running == script) count++;
        return count;
    }
}
