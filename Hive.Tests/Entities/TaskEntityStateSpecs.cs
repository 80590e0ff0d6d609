using Hive.Actors.Contracts;
using Hive.Actors.Entities;
using Xunit;
using static Hive.Actors.Entities.TaskEntityEvents;
using static Hive.Tests.Entities.EntitySamples;

namespace Hive.Tests.Entities;

/// <summary>TaskEntityState.Apply is pure: every event in, the expected state out.</summary>
public sealed class TaskEntityStateSpecs
{
    private const string TaskId = "state-1";
    private static readonly TaskSpec TheSpec = Spec(TaskId, maxAttempts: 3);

    private static TaskEntityState ClaimedOnce() =>
        TaskEntityState.Empty(TaskId).Apply(new Claimed(TheSpec, OwnerA, 1, 1, T0, T0.AddSeconds(1)));

    [Fact]
    public void An_empty_state_is_new_with_nothing_pending_and_one_attempt_allowed()
    {
        var state = TaskEntityState.Empty(TaskId);

        Assert.Equal(TaskId, state.TaskId);
        Assert.Equal(TaskPhase.New, state.Phase);
        Assert.Equal(0, state.Attempt);
        Assert.Equal(0, state.Epoch);
        Assert.Null(state.Spec);
        Assert.Equal(1, state.MaxAttempts);
        Assert.True(state.AttemptsLeft);
        Assert.False(state.HasPendingWork);
    }

    [Fact]
    public void A_claim_records_spec_owner_attempt_epoch_and_the_first_queued_time()
    {
        var state = ClaimedOnce();

        Assert.Equal(TaskPhase.Claimed, state.Phase);
        Assert.Same(TheSpec, state.Spec);
        Assert.Equal(OwnerA, state.Owner);
        Assert.Equal(1, state.Attempt);
        Assert.Equal(1, state.Epoch);
        Assert.Equal(T0, state.QueuedAt);
        Assert.Null(state.DueAt);
        Assert.Equal(3, state.MaxAttempts);
        Assert.True(state.AttemptsLeft);
        Assert.True(state.HasPendingWork);
    }

    [Fact]
    public void A_later_claim_keeps_the_first_queued_time_and_takes_the_new_attempt_and_epoch()
    {
        var state = ClaimedOnce()
            .Apply(new RetryScheduled(Result(TaskId, TaskState.Failed, 1), T0.AddSeconds(5)))
            .Apply(new Requeued("retry", false, T0.AddSeconds(5)))
            .Apply(new RequeuePublished())
            .Apply(new Claimed(TheSpec, OwnerB, 2, 2, T0.AddMinutes(1), T0.AddMinutes(1)));

        Assert.Equal(TaskPhase.Claimed, state.Phase);
        Assert.Equal(OwnerB, state.Owner);
        Assert.Equal(2, state.Attempt);
        Assert.Equal(2, state.Epoch);
        Assert.Equal(T0, state.QueuedAt);
        Assert.Null(state.DueAt);
    }

    [Fact]
    public void A_scheduled_retry_drops_the_owner_and_keeps_the_due_time_and_the_failed_result()
    {
        var failed = Result(TaskId, TaskState.Failed, 1);
        var state = ClaimedOnce().Apply(new RetryScheduled(failed, T0.AddSeconds(5)));

        Assert.Equal(TaskPhase.RetryScheduled, state.Phase);
        Assert.Null(state.Owner);
        Assert.Equal(T0.AddSeconds(5), state.DueAt);
        Assert.Same(failed, state.LastResult);
        Assert.Null(state.Result);
        Assert.Equal(1, state.Attempt);
        Assert.Equal(1, state.Epoch);
        Assert.True(state.HasPendingWork);
    }

    [Fact]
    public void A_requeue_without_refund_keeps_the_spent_attempt_and_owes_a_publish()
    {
        var state = ClaimedOnce().Apply(new Requeued("node lost", false, T0.AddSeconds(3)));

        Assert.Equal(TaskPhase.Queued, state.Phase);
        Assert.Null(state.Owner);
        Assert.Null(state.DueAt);
        Assert.True(state.RequeuePending);
        Assert.Equal(1, state.Attempt);
        Assert.Equal(1, state.Epoch);
        Assert.True(state.HasPendingWork);
    }

    [Fact]
    public void A_requeue_with_refund_gives_the_attempt_back_but_never_below_zero()
    {
        var refunded = ClaimedOnce().Apply(new Requeued("handed back", true, T0.AddSeconds(3)));
        Assert.Equal(0, refunded.Attempt);
        Assert.Equal(1, refunded.Epoch);
        Assert.True(refunded.RequeuePending);

        var again = refunded.Apply(new Requeued("handed back", true, T0.AddSeconds(4)));
        Assert.Equal(0, again.Attempt);
    }

    [Fact]
    public void A_published_requeue_leaves_nothing_pending()
    {
        var state = ClaimedOnce().Apply(new Requeued("node lost", false, T0)).Apply(new RequeuePublished());

        Assert.Equal(TaskPhase.Queued, state.Phase);
        Assert.False(state.RequeuePending);
        Assert.False(state.HasPendingWork);
    }

    [Fact]
    public void A_cancel_sets_the_flag_and_who_asked_without_changing_the_phase()
    {
        var before = TaskEntityState.Empty(TaskId).Apply(new Cancelled("backend", T0));
        Assert.Equal(TaskPhase.New, before.Phase);
        Assert.True(before.Cancelled);
        Assert.Equal("backend", before.CancelledBy);
        Assert.False(before.HasPendingWork);

        var running = ClaimedOnce().Apply(new Cancelled("ops", T0));
        Assert.Equal(TaskPhase.Claimed, running.Phase);
        Assert.Equal(OwnerA, running.Owner);
        Assert.True(running.Cancelled);
        Assert.Equal("ops", running.CancelledBy);
    }

    [Fact]
    public void Finishing_stores_the_result_clears_owner_and_pending_requeue_and_owes_a_delivery()
    {
        var result = Result(TaskId, TaskState.Succeeded, 1);
        var state = ClaimedOnce()
            .Apply(new Requeued("node lost", false, T0))
            .Apply(new Finished(result));

        Assert.Equal(TaskPhase.Finished, state.Phase);
        Assert.Same(result, state.Result);
        Assert.Null(state.Owner);
        Assert.Null(state.DueAt);
        Assert.False(state.RequeuePending);
        Assert.False(state.ResultDelivered);
        Assert.True(state.HasPendingWork);
    }

    [Fact]
    public void Finishing_a_never_claimed_task_takes_the_spec_from_the_event_but_never_replaces_a_known_one()
    {
        var cancelled = TaskEntityState.Empty(TaskId).Apply(new Cancelled("backend", T0));
        var stopped = Result(TaskId, TaskState.Stopped, 0);

        Assert.Same(TheSpec, cancelled.Apply(new Finished(stopped, TheSpec)).Spec);
        Assert.Null(cancelled.Apply(new Finished(stopped)).Spec);
        Assert.Same(TheSpec, ClaimedOnce().Apply(new Finished(stopped, Spec("other"))).Spec);
    }

    [Fact]
    public void A_delivered_result_leaves_nothing_pending()
    {
        var state = ClaimedOnce().Apply(new Finished(Result(TaskId, TaskState.Succeeded, 1))).Apply(new ResultDelivered());

        Assert.Equal(TaskPhase.Finished, state.Phase);
        Assert.True(state.ResultDelivered);
        Assert.False(state.HasPendingWork);
    }

    [Fact]
    public void Attempts_left_is_false_once_the_last_allowed_attempt_is_claimed()
    {
        var spec = Spec(TaskId, maxAttempts: 2);
        var state = TaskEntityState.Empty(TaskId).Apply(new Claimed(spec, OwnerA, 1, 1, T0, T0));
        Assert.True(state.AttemptsLeft);

        state = state.Apply(new Claimed(spec, OwnerA, 2, 2, T0, T0));
        Assert.False(state.AttemptsLeft);
        Assert.Equal(2, state.MaxAttempts);
    }

    [Fact]
    public void Messages_that_are_not_events_leave_the_state_unchanged()
    {
        var state = ClaimedOnce();

        Assert.Equal(state, state.Apply(new TaskEntityCommands.Wake(TaskId)));
        Assert.Equal(state, state.Apply(new TaskEntityReplies.ClaimGranted(TaskId, 9, 9)));
    }

    [Fact]
    public void Apply_never_mutates_the_state_it_is_called_on()
    {
        var state = ClaimedOnce();
        var snapshot = state with { };

        _ = state.Apply(new Finished(Result(TaskId, TaskState.Failed, 1)));
        _ = state.Apply(new Cancelled("x", T0));
        _ = state.Apply(new Requeued("r", true, T0));

        Assert.Equal(snapshot, state);
    }
}
