namespace Hive.Actors.Admission;

/// <summary>Fields of hive:node:&lt;node&gt; besides the guides (one field per guide id).</summary>
public static class NodeHashFields
{
    /// <summary>
    /// The node itself: <c>{admission: "open" | "closed: memory 93% &gt; 90%", cpuPercent, memoryPercent, guides, free,
    /// draining, heartbeat, scripts: [{name, hash}]}</c> (scripts: its catalogue, read every 30 s). Readers listing guides skip it (guide ids never start with an underscore).
    /// </summary>
    public const string Node = "_node";
}
