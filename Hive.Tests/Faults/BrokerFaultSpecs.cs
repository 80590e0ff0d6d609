using System.Diagnostics;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Faults;

/// <summary>
/// RabbitMQ goes away (killed, held down for <see cref="FaultSettings.Outage"/>, started again on the same port and
/// data folder) while scripts run and a backend keeps submitting. The node reconnects by itself: its task consumer, its
/// control queue and its confirming publishers; the scripts it was running are not touched; nothing confirmed is lost.
/// </summary>
public sealed class BrokerFaultSpecs : IClassFixture<BrokersFixture>
{
    private readonly BrokersFixture _brokers;

    public BrokerFaultSpecs(BrokersFixture brokers) => _brokers = brokers;

    [Fact]
    public async Task A_rabbitmq_restart_while_scripts_run_and_tasks_are_submitted_loses_nothing_disturbs_no_script_and_the_node_reconnects_by_itself()
    {
        var clock = Stopwatch.StartNew();
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        var ledger = await ResultLedger.DeclareAsync(_brokers.Rabbit.Uri);
        var node = await HiveNodeProcess.StartAsync(_brokers, guides: 6, name: $"rabbit-fault-{Guid.NewGuid().ToString("N")[..6]}",
            extraHocon: "hive.node.drain-timeout = 2s\nhive.tasks.stop-grace = 2s");
        var nodePid = node.Pid!.Value;
        await using var submitter = new ConfirmingSubmitter(_brokers.Rabbit.Uri);
        var ids = new List<string>();
        try
        {
            // Two scripts that outlive the outage: they must keep their pids and stay attempt 1.
            var sleepers = new[] { HiveTestBus.NewId("rmq-long"), HiveTestBus.NewId("rmq-long") };
            foreach (var id in sleepers)
                await submitter.SubmitAsync(id, new { taskId = id, script = "sleep", args = new { seconds = 600 }, maxAttempts = 3 }, TimeSpan.FromSeconds(10));
            var trees = new List<(int Pid, int Grandchild)>();
            foreach (var id in sleepers) trees.Add(await SharedNodeFixture.SleepingTreeAsync(bus, id));

            // A backend keeps submitting short tasks before, during and after the outage.
            using var stopSubmitting = new CancellationTokenSource();
            var flow = submitter.RunAsync(i =>
            {
                var id = HiveTestBus.NewId($"rmq{i}");
                return (id, new { taskId = id, script = "sample", args = new { steps = 2, delay = 0.2 }, maxAttempts = 3 });
            }, TimeSpan.FromMilliseconds(300), stopSubmitting.Token);
            await Task.Delay(TimeSpan.FromSeconds(3));

            var inFlight = await Outcome.InFlightAsync(bus.Redis, sleepers.Concat(submitter.Confirmed));
            FaultSettings.Log($"stopping rabbitmq at {Since.Seconds(clock)} with {inFlight} tasks in flight ({submitter.Confirmed.Count} short ones confirmed so far)");
            await _brokers.Rabbit.StopAsync();
            var confirmedBefore = submitter.Confirmed.Count;
            await Task.Delay(FaultSettings.Outage);
            Assert.All(trees, t => Assert.True(ProcessProbe.IsAlive(t.Pid) && ProcessProbe.IsAlive(t.Grandchild), "a script died while the broker was down"));
            var restarting = Stopwatch.StartNew();
            await _brokers.Rabbit.StartAsync();
            var startedIn = restarting.Elapsed;
            FaultSettings.Log($"rabbitmq back at {Since.Seconds(clock)} (start took {startedIn.TotalSeconds:0.0} s); {submitter.Confirmed.Count - confirmedBefore} confirmed while it was down");

            // The task consumer is back: a task submitted now runs.
            var probe = HiveTestBus.NewId("rmq-probe");
            await submitter.SubmitAsync(probe, new { taskId = probe, script = "trivial", maxAttempts = 3 }, TimeSpan.FromSeconds(30));
            await bus.WaitForFinalAsync(probe, TimeSpan.FromSeconds(60));
            var consumerBack = restarting.Elapsed - startedIn;
            FaultSettings.Log($"a task submitted after the restart ended {consumerBack.TotalSeconds:0.0} s after the broker was up");

            // Keep submitting a little longer, then stop.
            await Task.Delay(TimeSpan.FromSeconds(3));
            await stopSubmitting.CancelAsync();
            await flow;

            // The long scripts were not disturbed: same processes, same attempt, still running.
            for (var i = 0; i < sleepers.Length; i++)
            {
                var doc = (await bus.StatusAsync(sleepers[i]))!;
                Assert.True(doc.State == TaskState.Running && doc.Pid == trees[i].Pid && doc.Attempt == 1,
                    $"{sleepers[i]}: {doc.State.ToWire()} pid {doc.Pid} attempt {doc.Attempt}, was pid {trees[i].Pid}");
                Assert.True(ProcessProbe.IsAlive(trees[i].Pid) && ProcessProbe.IsAlive(trees[i].Grandchild));
            }

            // The control queue is back: a stop reaches the node and ends the scripts.
            var stopSent = Stopwatch.StartNew();
            foreach (var id in sleepers) await Outcome.RetryAsync(() => bus.ControlAsync(id, "stop"), TimeSpan.FromSeconds(30));
            foreach (var id in sleepers) Assert.Equal(TaskState.Stopped, (await bus.WaitForFinalAsync(id, TimeSpan.FromSeconds(30))).State);
            FaultSettings.Log($"stop after the restart took effect in {stopSent.Elapsed.TotalMilliseconds:0} ms");

            ids.AddRange(sleepers);
            ids.AddRange(submitter.Confirmed.Except(sleepers)); // with the probe
            var finals = await Outcome.WaitAllFinalAsync(bus.Redis, ids, TimeSpan.FromSeconds(120));
            await Task.Delay(TimeSpan.FromSeconds(3)); // settle: a duplicate result would arrive now
            var results = await ledger.DrainAsync();
            Outcome.AssertEachEndedOnce(ids, results, finals);
            var shorts = ids.Except(sleepers).ToArray(); // the sample tasks and the probe
            Assert.All(shorts, id => Assert.True(finals[id].State == TaskState.Succeeded, $"{id} ended {finals[id].State.ToWire()}: {finals[id].Reason}"));
            Assert.All(sleepers, id => Assert.Equal(1, results.Single(r => r.TaskId == id).Attempt));
            await Outcome.AssertNoScriptLeftAsync(ids, TimeSpan.FromSeconds(10));

            // The same node process did all of it.
            Assert.Equal(nodePid, node.Pid);
            FaultSettings.Log($"{ids.Count} tasks ({shorts.Length} short, {submitter.Republished} publications repeated by the backend), " +
                $"{results.Count} results, all final, none lost; done at {Since.Seconds(clock)}");
        }
        finally
        {
            if (ids.Count == 0) ids.AddRange(submitter.Confirmed);
            Outcome.KillScriptsOf(ids);
            await node.DisposeAsync();
            var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "test-logs")).FullName;
            await File.WriteAllTextAsync(Path.Combine(logs, "BrokerFaultSpecs-node.log"), node.Log);
        }
    }
}
