using System.Diagnostics;
using Hive.Actors.Contracts;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Xunit;

namespace Hive.Tests.Faults;

/// <summary>
/// Redis (the journal of every task entity, the status documents, the open-task index) goes away for
/// <see cref="FaultSettings.Outage"/> and comes back with its append-only file, as a production Redis would, while
/// scripts run, end and are submitted. Scripts go on; ends that could not be persisted are retried until they are;
/// claims that could not be persisted go back to the queue; progress resumes; the node stays up.
/// </summary>
public sealed class RedisFaultSpecs : IClassFixture<RedisFaultSpecs.DurableBrokers>
{
    private readonly BrokersFixture _brokers;

    public RedisFaultSpecs(DurableBrokers brokers) => _brokers = brokers.Brokers;

    /// <summary>RabbitMQ and a Redis that writes an append-only file with fsync on every write.</summary>
    public sealed class DurableBrokers : IAsyncLifetime
    {
        public BrokersFixture Brokers { get; private set; } = null!;

        public async ValueTask InitializeAsync() => Brokers = await BrokersFixture.StartAsync(durableRedis: true);

        public async ValueTask DisposeAsync()
        {
            if (Brokers is not null) await Brokers.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_redis_restart_while_scripts_run_end_and_are_submitted_loses_nothing_the_scripts_go_on_progress_resumes_and_the_node_stays_up()
    {
        var clock = Stopwatch.StartNew();
        await using var bus = await HiveTestBus.ConnectAsync(_brokers);
        var ledger = await ResultLedger.DeclareAsync(_brokers.Rabbit.Uri);
        var node = await HiveNodeProcess.StartAsync(_brokers, guides: 8, name: $"redis-fault-{Guid.NewGuid().ToString("N")[..6]}",
            extraHocon: "hive.node.drain-timeout = 2s\nhive.tasks.stop-grace = 2s");
        var nodePid = node.Pid!.Value;
        var ids = new List<string>();
        try
        {
            // Two scripts that outlive the outage: one printing all the time, one silent with a grandchild.
            var ticker = HiveTestBus.NewId("redis-tick");
            var sleeper = HiveTestBus.NewId("redis-long");
            ids.AddRange([ticker, sleeper]);
            await bus.PublishTaskAsync(new { taskId = ticker, script = "ticker", args = new { ticks = 100000, interval = 0.1 }, maxAttempts = 3 });
            await bus.PublishTaskAsync(new { taskId = sleeper, script = "sleep", args = new { seconds = 600 }, maxAttempts = 3 });
            var tickerPid = (await bus.WaitForStatusAsync(ticker, s => s.State == TaskState.Running && s.Pid is not null && s.TotalLines >= 3, TimeSpan.FromSeconds(30))).Pid!.Value;
            var (sleepPid, grandchild) = await SharedNodeFixture.SleepingTreeAsync(bus, sleeper);

            // Three scripts that end while Redis is down: their ends cannot be persisted until it is back.
            var enders = Enumerable.Range(0, 3).Select(i => HiveTestBus.NewId($"redis-end{i}")).ToArray();
            ids.AddRange(enders);
            foreach (var id in enders) await bus.PublishTaskAsync(new { taskId = id, script = "sleep", args = new { seconds = 4 }, maxAttempts = 3 });
            foreach (var id in enders) await SharedNodeFixture.SleepingTreeAsync(bus, id);

            var linesBefore = (await bus.StatusAsync(ticker))!.TotalLines;
            FaultSettings.Log($"stopping redis at {Since.Seconds(clock)} with {ids.Count} tasks in flight (ticker at {linesBefore} lines)");
            await _brokers.Redis.StopAsync();

            // Tasks submitted while Redis is down: they cannot be claimed until it is back.
            await Task.Delay(FaultSettings.Outage / 2);
            var during = Enumerable.Range(0, 3).Select(i => HiveTestBus.NewId($"redis-during{i}")).ToArray();
            ids.AddRange(during);
            foreach (var id in during) await bus.PublishTaskAsync(new { taskId = id, script = "sample", args = new { steps = 2, delay = 0.2 }, maxAttempts = 3 });
            await Task.Delay(FaultSettings.Outage / 2);

            Assert.True(ProcessProbe.IsAlive(tickerPid) && ProcessProbe.IsAlive(sleepPid) && ProcessProbe.IsAlive(grandchild), "a script died while Redis was down");
            Assert.Equal(nodePid, node.Pid);
            await _brokers.Redis.StartAsync();
            var back = Stopwatch.StartNew();
            FaultSettings.Log($"redis back at {Since.Seconds(clock)}");

            // Progress resumes: the ticker's status moves past where it was when Redis went down.
            await bus.WaitForStatusAsync(ticker, s => s.TotalLines > linesBefore + 5, TimeSpan.FromSeconds(30));
            FaultSettings.Log($"ticker progress written again {back.Elapsed.TotalSeconds:0.0} s after redis was back");

            var enderFinals = await Outcome.WaitAllFinalAsync(bus.Redis, enders, TimeSpan.FromSeconds(90));
            FaultSettings.Log($"the ends of the scripts that finished during the outage recorded {back.Elapsed.TotalSeconds:0.0} s after redis was back");
            var duringFinals = await Outcome.WaitAllFinalAsync(bus.Redis, during, TimeSpan.FromSeconds(120));
            FaultSettings.Log($"the tasks submitted during the outage ended {back.Elapsed.TotalSeconds:0.0} s after redis was back");
            Assert.All(enders.Concat(during), id =>
            {
                var doc = enderFinals.GetValueOrDefault(id) ?? duringFinals[id];
                Assert.True(doc.State == TaskState.Succeeded, $"{id} ended {doc.State.ToWire()}: {doc.Reason}");
            });

            // The long scripts went on undisturbed: same processes, attempt 1.
            foreach (var (id, pid) in new[] { (ticker, tickerPid), (sleeper, sleepPid) })
            {
                var doc = (await bus.StatusAsync(id))!;
                Assert.True(doc.State == TaskState.Running && doc.Pid == pid && doc.Attempt == 1, $"{id}: {doc.State.ToWire()} pid {doc.Pid} attempt {doc.Attempt}, was pid {pid}");
            }
            foreach (var id in new[] { ticker, sleeper }) await bus.ControlAsync(id, "stop");

            var finals = await Outcome.WaitAllFinalAsync(bus.Redis, ids, TimeSpan.FromSeconds(60));
            Assert.Equal(TaskState.Stopped, finals[ticker].State);
            Assert.Equal(TaskState.Stopped, finals[sleeper].State);
            await Task.Delay(TimeSpan.FromSeconds(3)); // settle: a duplicate result would arrive now
            var results = await ledger.DrainAsync();
            Outcome.AssertEachEndedOnce(ids, results, finals);
            Assert.All(enders, id => Assert.Equal(1, results.Single(r => r.TaskId == id).Attempt));
            await Outcome.AssertNoScriptLeftAsync(ids, TimeSpan.FromSeconds(10));
            Assert.Equal(nodePid, node.Pid);
            FaultSettings.Log($"{ids.Count} tasks, {results.Count} results, all final, none lost; done at {Since.Seconds(clock)}");
        }
        finally
        {
            Outcome.KillScriptsOf(ids);
            await node.DisposeAsync();
            var logs = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "test-logs")).FullName;
            await File.WriteAllTextAsync(Path.Combine(logs, "RedisFaultSpecs-node.log"), node.Log);
        }
    }
}
