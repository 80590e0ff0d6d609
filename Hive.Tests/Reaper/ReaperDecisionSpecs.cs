using Hive.Actors.Entities;
using Hive.Actors.Reaper;
using Xunit;
using static Hive.Actors.Reaper.ReaperActor;

namespace Hive.Tests.Reaper;

/// <summary>What the reaper does with one entry of the open-task index.</summary>
public sealed class ReaperDecisionSpecs
{
    private const long Now = 1_800_000_000_000;
    private const long Past = Now - 1;
    private const long Future = Now + 30_000;

    [Theory]
    [InlineData("claimed", true, 0, ReaperAction.Release)]
    [InlineData("claimed", false, 0, ReaperAction.None)]
    [InlineData("retry", false, Past, ReaperAction.Wake)]
    [InlineData("retry", true, Future, ReaperAction.None)]
    [InlineData("requeue", true, Future, ReaperAction.Wake)]
    [InlineData("deliver", true, Future, ReaperAction.Wake)]
    [InlineData("requeue", false, Future, ReaperAction.None)]
    [InlineData("deliver", false, Future, ReaperAction.None)]
    [InlineData("unknown", false, 0, ReaperAction.Wake)]
    [InlineData("something-else", true, Past, ReaperAction.None)]
    public void An_entry_is_released_woken_or_left_by_its_phase_its_member_and_its_time(string phase, bool memberGone, long dueAt, ReaperAction expected) =>
        Assert.Equal(expected, Decide(new OpenTaskEntry(phase, "akka.tcp://hive@10.0.0.1:4053#1", dueAt), memberGone, Now));

    [Theory]
    [InlineData("requeue")]
    [InlineData("deliver")]
    public void Owed_work_whose_check_time_has_passed_is_woken_although_its_member_is_alive(string phase) =>
        // Its entity may have been passivated while a publish kept failing, and its retry timer with it.
        Assert.Equal(ReaperAction.Wake, Decide(new OpenTaskEntry(phase, "akka.tcp://hive@10.0.0.1:4053#1", Past), memberGone: false, Now));

    [Theory]
    [InlineData("requeue")]
    [InlineData("deliver")]
    public void Owed_work_indexed_before_check_times_existed_is_woken(string phase) =>
        Assert.Equal(ReaperAction.Wake, Decide(new OpenTaskEntry(phase, "akka.tcp://hive@10.0.0.1:4053#1", 0), memberGone: false, Now));
}
