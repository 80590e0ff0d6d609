using System.Text;
using System.Text.Json;

namespace Hive.Actors.Contracts;

/// <summary>
/// The seed's Redis shapes, written when <c>hive.redis.seed-compat = on</c>. Our reading of the seed
/// (<c>kernel/move/missionprogress</c> and <c>kernel/common/transferstation</c> of the C++ guide):
/// <list type="bullet">
/// <item><description><c>hive.progress-&lt;missionId&gt;</c> is a plain string key (SET, then EXPIRE max(progress_timer, 60) s,
/// refreshed every progress_timer seconds) holding
/// <c>{"progress": [last progressLength lines], "timestamp": &lt;unix seconds&gt;, "missionId": "…", "state": "&lt;seed state&gt;", "identity": "&lt;guide id&gt;"}</c>.
/// The line list is what the guide captured: before each run it adds <c>**command: &lt;command&gt;</c> and
/// <c>**********Loop: &lt;n&gt;**********</c> (see <see cref="LoopBanner"/>), then every output line.</description></item>
/// <item><description><c>hive.watchdog-&lt;ip&gt;</c> is a hash without expiry; field = the guide's identity (a UUID in the seed),
/// value = <c>{"hostName", "hostIp", "pid", "state", "identity", "timeStamp": &lt;unix seconds&gt;}</c>, rewritten every
/// progress_timer seconds; <c>state</c> is <c>wait</c> while the guide is idle.</description></item>
/// <item><description>Seed states: <c>wait, accept, start, wait pause, pause, stop, complete</c> (see <see cref="ToSeedState"/>).</description></item>
/// </list>
/// </summary>
public static class SeedRedisShapes
{
    /// <summary>The seed never lets a progress key live less than a minute.</summary>
    public static readonly TimeSpan MinimumProgressTtl = TimeSpan.FromSeconds(60);

    /// <summary>TTL of <c>hive.progress-&lt;id&gt;</c> for a given write interval: max(interval, 60 s), as the seed.</summary>
    public static TimeSpan ProgressTtl(TimeSpan writeInterval) => writeInterval > MinimumProgressTtl ? writeInterval : MinimumProgressTtl;

    /// <summary>
    /// The seed's name for a state: null (idle guide) → <c>wait</c>; accepted → <c>accept</c>; running → <c>start</c>;
    /// paused → <c>pause</c>; succeeded/failed → <c>complete</c> (the seed reports <c>complete</c> whenever the command
    /// ran to its end, whatever its exit code); stopped, timed-out, rejected, dead → <c>stop</c> (did not run to its end);
    /// queued → <c>wait</c>.
    /// </summary>
    public static string ToSeedState(TaskState? state) => state switch
    {
        null or TaskState.Queued => "wait",
        TaskState.Accepted => "accept",
        TaskState.Running => "start",
        TaskState.Paused => "pause",
        TaskState.Succeeded or TaskState.Failed => "complete",
        _ => "stop",
    };

    /// <summary>The two lines the seed's guide puts into the progress list before run <paramref name="runIndex"/> (0-based).</summary>
    public static IReadOnlyList<string> LoopBanner(string commandOrScript, int runIndex) =>
        [$"**command: {commandOrScript}", $"**********Loop: {runIndex}**********"];

    /// <summary>The value of <c>hive.progress-&lt;missionId&gt;</c>.</summary>
    public static string ProgressValue(string missionId, IReadOnlyList<string> lines, TaskState state, string identity, DateTimeOffset at) =>
        Encoding.UTF8.GetString(JsonBytes.Write(w =>
        {
            w.WriteStartObject();
            w.Lines("progress", lines);
            w.WriteNumber("timestamp", at.ToUnixTimeSeconds());
            w.WriteString("missionId", missionId);
            w.WriteString("state", ToSeedState(state));
            w.WriteString("identity", identity);
            w.WriteEndObject();
        }));

    /// <summary>
    /// The value of <c>hive.progress-&lt;taskId&gt;</c> for a status document: its lines, state and update time;
    /// identity = the guide (else the node).
    /// </summary>
    public static string Progress(TaskStatusDocument doc)
    {
        ArgumentNullException.ThrowIfNull(doc);
        return ProgressValue(doc.TaskId, doc.Lines, doc.State, doc.Guide ?? doc.Node ?? "", doc.UpdatedAt);
    }

    /// <summary>Reads a <c>hive.progress-&lt;missionId&gt;</c> value; null when it is not one.</summary>
    public static SeedProgress? ParseProgressValue(string json)
    {
        using var document = JsonBytes.TryParseObject(Encoding.UTF8.GetBytes(json));
        if (document is null) return null;
        var root = document.RootElement;
        if (root.String("missionId") is not { } missionId || root.StringList("progress") is not { } lines) return null;
        return new SeedProgress(missionId, lines, root.String("state") ?? "", root.String("identity") ?? "",
            DateTimeOffset.FromUnixTimeSeconds(root.Long("timestamp") ?? 0));
    }

    /// <summary>The hash field of a guide in <c>hive.watchdog-&lt;ip&gt;</c>: its identity.</summary>
    public static string WatchdogField(SeedWatchdogEntry entry) => entry.Identity;

    /// <summary>The hash value of a guide in <c>hive.watchdog-&lt;ip&gt;</c>.</summary>
    public static string WatchdogValue(SeedWatchdogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Encoding.UTF8.GetString(JsonBytes.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("hostName", entry.HostName);
            w.WriteString("hostIp", entry.HostIp);
            w.WriteNumber("pid", entry.Pid);
            w.WriteString("state", ToSeedState(entry.State));
            w.WriteString("identity", entry.Identity);
            w.WriteNumber("timeStamp", entry.TimeStamp.ToUnixTimeSeconds());
            w.WriteEndObject();
        }));
    }

    /// <summary>Reads a watchdog hash value (state stays in the seed's words); null when it is not one.</summary>
    public static (string HostName, string HostIp, int Pid, string SeedState, string Identity, DateTimeOffset TimeStamp)? ParseWatchdogValue(string json)
    {
        using var document = JsonBytes.TryParseObject(Encoding.UTF8.GetBytes(json));
        if (document is null) return null;
        var root = document.RootElement;
        if (root.String("identity") is not { } identity) return null;
        return (root.String("hostName") ?? "", root.String("hostIp") ?? "", root.Int("pid") ?? 0, root.String("state") ?? "",
            identity, DateTimeOffset.FromUnixTimeSeconds(root.Long("timeStamp") ?? 0));
    }
}

/// <summary>A parsed <c>hive.progress-&lt;missionId&gt;</c> value.</summary>
public sealed record SeedProgress(string MissionId, IReadOnlyList<string> Progress, string State, string Identity, DateTimeOffset Timestamp);

/// <summary>One guide's entry in the seed's watchdog hash.</summary>
/// <param name="HostName">Machine name.</param>
/// <param name="HostIp">The IP in the key name.</param>
/// <param name="Pid">In the seed, the guide process's pid; in Hive, the script's pid while one runs, else the node's.</param>
/// <param name="State">The guide's task state, null when idle (<c>wait</c>).</param>
/// <param name="Identity">Stable id of the guide (the hash field).</param>
/// <param name="TimeStamp">When written (unix seconds on the wire).</param>
public sealed record SeedWatchdogEntry(string HostName, string HostIp, int Pid, TaskState? State, string Identity, DateTimeOffset TimeStamp);
