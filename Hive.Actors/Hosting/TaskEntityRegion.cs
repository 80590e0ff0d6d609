using Akka.Cluster.Sharding;
using Hive.Actors.Entities;

namespace Hive.Actors.Hosting;

/// <summary>ActorRegistry key of the TaskEntity shard region.</summary>
public sealed class TaskEntityRegion;

/// <summary>ActorRegistry key of the node's monitor, task ingestion, control ingestion and reaper.</summary>
public sealed class NodeMonitor;

public sealed class TaskIngestion;

public sealed class ControlIngestion;

public sealed class Reaper;

/// <summary>Routes by task id; the shard count must never change in a live cluster.</summary>
public sealed class TaskMessageExtractor() : HashCodeMessageExtractor(100)
{
    public override string EntityId(object message) => message is IWithTaskId m ? m.TaskId : null!;
}
