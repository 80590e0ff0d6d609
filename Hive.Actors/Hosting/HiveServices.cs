using Hive.Actors.Callbacks;
using Hive.Actors.Configuration;
using Hive.Actors.Entities;
using Hive.Actors.Guides;
using Hive.Actors.Messaging;
using Hive.Actors.Processes;
using StackExchange.Redis;

namespace Hive.Actors.Hosting;

/// <summary>The node's shared, thread-safe services handed to actors through their Props.</summary>
public sealed record HiveServices(
    HiveSettings Settings,
    IHiveBus Bus,
    ICallbackSender Callbacks,
    IConnectionMultiplexer Redis,
    OpenTaskIndex Index)
{
    /// <summary>The node's ledger of running script groups (<c>&lt;work-dir&gt;/&lt;node-name&gt;.runs</c>), swept at start.</summary>
    public RunLedger Runs { get; init; } = RunLedger.ForNode(Settings.WorkDir, Settings.NodeName);

    /// <summary>The user scripts run as (hive.tasks.run-as-user), resolved when the node starts; null = the node's user.</summary>
    public ScriptUser? RunAs { get; init; } = ScriptUser.Resolve(Settings.RunAsUser);

    /// <summary>The slots of scripts whose manifest sets maxConcurrentPerCluster (hive.tasks.cluster-slot-lease).</summary>
    public ClusterSlots Slots { get; init; } = new(Redis, Settings.ClusterSlotLease);
}
