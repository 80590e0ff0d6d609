using System.Text.Json;
using Hive.Actors.Contracts;
using Hive.Actors.Entities;

namespace Hive.Tests.Entities;

/// <summary>Specs, owners and results for the TaskEntity specs and the serializer round trips.</summary>
internal static class EntitySamples
{
    public static readonly DateTimeOffset T0 = new(2025, 5, 1, 12, 0, 0, TimeSpan.Zero);

    public static readonly ClaimOwner OwnerA = new("node-a", "akka.tcp://hive@127.0.0.1:4053#1001", "akka://hive/user/monitor/guide-1");

    public static readonly ClaimOwner OwnerB = new("node-b", "akka.tcp://hive@127.0.0.1:4054#2002", "akka://hive/user/monitor/guide-2");

    public static string NewTaskId(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}";

    public static TaskSpec Spec(string taskId, int maxAttempts = 3, string? responseUrl = null, string? acceptUrl = null, string? replyTo = null) =>
        new(taskId, "sample", null, JsonDocument.Parse("""{"n": 1, "tags": ["a", "b"]}""").RootElement.Clone(),
            acceptUrl, responseUrl, 30, maxAttempts, 1, 0, 20, 1, replyTo, TaskShape.Hive, null, "hive.tasks");

    public static TaskResult Result(string taskId, TaskState state, int attempt, int maxAttempts = 3, string? node = "node-a") =>
        new(taskId, "sample", state, state == TaskState.Succeeded ? 0 : 3, null,
            state == TaskState.Succeeded ? "exit code 0" : "exit code 3", attempt, maxAttempts, ["last line"],
            JsonDocument.Parse("""{"ok": true}""").RootElement.Clone(), T0, T0.AddSeconds(1), T0.AddSeconds(2), node, 1, [["last line"]]);
}
