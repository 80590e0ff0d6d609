namespace Hive.Actors.Contracts;

/// <summary>The Redis keys Hive writes (the persistence plugin's journal keys live with the plugin).</summary>
public static class RedisKeys
{
    /// <summary>String: <see cref="TaskStatusJson"/> of one task; TTL <c>hive.redis.task-ttl</c> after the end.</summary>
    public static string Task(string id) => $"hive:task:{id}";

    /// <summary>Hash guideId → JSON {state, taskId, pid, heartbeat}; expires unless the node refreshes it.</summary>
    public static string Node(string node) => $"hive:node:{node}";

    /// <summary>Sorted set of the runs holding a slot of a script's <c>maxConcurrentPerCluster</c>, scored by lease end (ms).</summary>
    public static string ScriptSlots(string script) => $"hive:slots:{script}";

    /// <summary>Stream of task events (accepted, started, progress, paused, resumed, finished), capped.</summary>
    public const string Events = "hive:events";

    /// <summary>Seed compatibility: string, see <see cref="SeedRedisShapes.ProgressValue"/>.</summary>
    public static string SeedProgress(string id) => $"hive.progress-{id}";

    /// <summary>Seed compatibility: hash identity → JSON, see <see cref="SeedRedisShapes.WatchdogValue"/>.</summary>
    public static string SeedWatchdog(string ip) => $"hive.watchdog-{ip}";
}
