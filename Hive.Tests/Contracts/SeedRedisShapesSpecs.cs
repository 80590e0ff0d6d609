using Hive.Actors.Contracts;
using Xunit;
using static Hive.Tests.Contracts.ContractTestHelpers;

namespace Hive.Tests.Contracts;

public sealed class SeedRedisShapesSpecs
{
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeSeconds(1_764_000_000);

    [Fact]
    public void The_seed_progress_value_is_the_seeds_json_with_a_line_list()
    {
        var value = SeedRedisShapes.ProgressValue("m1", ["**command: x", "**********Loop: 0**********", "50%"], TaskState.Running, "guide-1", At);
        var root = Json(value);

        Assert.Equal(["**command: x", "**********Loop: 0**********", "50%"], root.GetProperty("progress").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1_764_000_000, root.GetProperty("timestamp").GetInt64());
        Assert.Equal("m1", root.GetProperty("missionId").GetString());
        Assert.Equal("start", root.GetProperty("state").GetString());
        Assert.Equal("guide-1", root.GetProperty("identity").GetString());

        var parsed = SeedRedisShapes.ParseProgressValue(value)!;
        Assert.Equal("m1", parsed.MissionId);
        Assert.Equal(3, parsed.Progress.Count);
        Assert.Equal(At, parsed.Timestamp);
    }

    [Fact]
    public void The_seed_progress_of_a_status_document_uses_its_lines_state_and_guide()
    {
        var doc = new TaskStatusDocument("m2", null, TaskState.Paused, "node-a", "guide-3", 1, null, null, ["a"], 1, null, null, At, null, null, null, null);
        var parsed = SeedRedisShapes.ParseProgressValue(SeedRedisShapes.Progress(doc))!;

        Assert.Equal(new[] { "a" }, parsed.Progress);
        Assert.Equal("pause", parsed.State);
        Assert.Equal("guide-3", parsed.Identity);
        Assert.Equal(RedisKeys.SeedProgress("m2"), "hive.progress-" + parsed.MissionId);
    }

    [Fact]
    public void The_seed_watchdog_entry_is_keyed_by_identity_with_the_seeds_fields()
    {
        var entry = new SeedWatchdogEntry("host-1", "192.168.1.100", 4242, null, "5c70489e", At);
        var root = Json(SeedRedisShapes.WatchdogValue(entry));

        Assert.Equal("5c70489e", SeedRedisShapes.WatchdogField(entry));
        Assert.Equal("host-1", root.GetProperty("hostName").GetString());
        Assert.Equal("192.168.1.100", root.GetProperty("hostIp").GetString());
        Assert.Equal(4242, root.GetProperty("pid").GetInt32());
        Assert.Equal("wait", root.GetProperty("state").GetString());
        Assert.Equal("5c70489e", root.GetProperty("identity").GetString());
        Assert.Equal(1_764_000_000, root.GetProperty("timeStamp").GetInt64());
        Assert.Equal(("host-1", "192.168.1.100", 4242, "wait", "5c70489e", At), SeedRedisShapes.ParseWatchdogValue(SeedRedisShapes.WatchdogValue(entry)));
    }

    [Theory]
    [InlineData(null, "wait")]
    [InlineData(TaskState.Queued, "wait")]
    [InlineData(TaskState.Accepted, "accept")]
    [InlineData(TaskState.Running, "start")]
    [InlineData(TaskState.Paused, "pause")]
    [InlineData(TaskState.Succeeded, "complete")]
    [InlineData(TaskState.Failed, "complete")]
    [InlineData(TaskState.Stopped, "stop")]
    [InlineData(TaskState.TimedOut, "stop")]
    [InlineData(TaskState.Rejected, "stop")]
    [InlineData(TaskState.Dead, "stop")]
    public void Hive_states_map_to_the_seeds_state_words(TaskState? state, string seed) =>
        Assert.Equal(seed, SeedRedisShapes.ToSeedState(state));

    [Fact]
    public void The_seed_loop_banner_matches_the_seed_guide()
    {
        Assert.Equal(["**command: python3 -u x.py", "**********Loop: 2**********"], SeedRedisShapes.LoopBanner("python3 -u x.py", 2));
    }

    [Fact]
    public void The_progress_key_lives_at_least_a_minute_like_the_seeds()
    {
        Assert.Equal(TimeSpan.FromSeconds(60), SeedRedisShapes.ProgressTtl(TimeSpan.FromSeconds(2)));
        Assert.Equal(TimeSpan.FromSeconds(90), SeedRedisShapes.ProgressTtl(TimeSpan.FromSeconds(90)));
    }
}
