using System.Text.Json;
using StackExchange.Redis;

namespace Hive.Actors.Entities;

/// <summary>One open task in the index: what it waits for and which cluster member must act.</summary>
public sealed record OpenTaskEntry(string Phase, string MemberUid, long DueAtUnixMs);

/// <summary>
/// The Redis hash <c>hive:open</c>: every task with pending work (claimed, retry due, requeue or result
/// not yet delivered). A claim is indexed before it is persisted, so the index is a superset of the truth:
/// the reaper wakes those entries whose member is gone, and the entity answers with what really is.
/// </summary>
public sealed class OpenTaskIndex
{
    public const string Key = "hive:open";
    private readonly IConnectionMultiplexer _redis;

    public OpenTaskIndex(IConnectionMultiplexer redis) => _redis = redis;

    public Task SetAsync(string taskId, OpenTaskEntry entry) =>
        _redis.GetDatabase().HashSetAsync(Key, taskId, JsonSerializer.Serialize(entry));

    public Task RemoveAsync(string taskId) => _redis.GetDatabase().HashDeleteAsync(Key, taskId);

    public async Task<IReadOnlyList<(string TaskId, OpenTaskEntry Entry)>> ReadAllAsync()
    {
        var all = await _redis.GetDatabase().HashGetAllAsync(Key);
        var list = new List<(string, OpenTaskEntry)>(all.Length);
        foreach (var e in all)
        {
            try
            {
                var entry = JsonSerializer.Deserialize<OpenTaskEntry>((string)e.Value!);
                if (entry is not null) list.Add((e.Name!, entry));
            }
            catch (JsonException)
            {
                list.Add((e.Name!, new OpenTaskEntry("unknown", "", 0)));
            }
        }
        return list;
    }
}
