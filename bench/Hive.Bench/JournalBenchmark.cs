using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Hive.Persistence.Redis;

namespace Hive.Bench;

/// <summary>
/// Events/s through the Redis journal: one persistent actor calling Persist per command, and 100 concurrent
/// actors calling PersistAll with batches. Each scenario runs 3 times on fresh persistence ids.
/// </summary>
internal static class JournalBenchmark
{
    private const int Repetitions = 3;
    private const int SingleActorEvents = 10_000;
    private const int Actors = 100;
    private const int BatchesPerActor = 50;
    private const int BatchSize = 10;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    public static async Task<int> RunAsync(Scorecard? card = null)
    {
        await using var redis = await LocalRedisServer.StartAsync();
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.persistence.journal.plugin = "akka.persistence.journal.redis"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.redis"
            akka.persistence.journal.redis.configuration-string = "{{redis.ConnectionString}}"
            akka.persistence.journal.redis.key-prefix = "bench"
            akka.persistence.snapshot-store.redis.configuration-string = "{{redis.ConnectionString}}"
            akka.persistence.snapshot-store.redis.key-prefix = "bench"
            """).WithFallback(RedisPersistence.DefaultConfig());

        using var system = ActorSystem.Create("journal-bench", config);
        Console.WriteLine($"Redis journal benchmark: redis-server on 127.0.0.1:{redis.Port} (no AOF/RDB), payload = 100-byte array, {Environment.ProcessorCount} cores");

        // Warm-up (JIT, connection, script cache); not reported.
        await SingleActorAsync(system, 1_000);
        await ManyActorsAsync(system, 10, 5);

        var single = new List<double>();
        var many = new List<double>();
        for (var i = 0; i < Repetitions; i++)
        {
            single.Add(await SingleActorAsync(system, SingleActorEvents));
            many.Add(await ManyActorsAsync(system, BatchesPerActor, BatchSize));
            Console.WriteLine($"  run {i + 1}: 1 actor Persist {single[^1],9:N0} events/s | {Actors} actors PersistAll({BatchSize}) {many[^1],9:N0} events/s");
        }

        Report($"1 actor, Persist ({SingleActorEvents:N0} events)", single, target: 2_000);
        Report($"{Actors} actors, PersistAll batches of {BatchSize} ({Actors * BatchesPerActor * BatchSize:N0} events)", many, target: 20_000);
        var load = Machine.LoadAverage();
        card?.Add("journal, 100 actors >= 20,000 events/s", Summary.Of(many).Median >= 20_000, $"{Summary.Of(many).Format("N0", "events/s")}, load {load}");
        card?.Add("journal, 1 actor >= 2,000 events/s", Summary.Of(single).Median >= 2_000, $"{Summary.Of(single).Format("N0", "events/s")}, load {load}");
        await system.Terminate();
        return single.Order().ElementAt(1) >= 2_000 && many.Order().ElementAt(1) >= 20_000 ? 0 : 1;
    }

    private static async Task<double> SingleActorAsync(ActorSystem system, int events)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var actor = system.ActorOf(BenchActor.Props($"single-{Guid.NewGuid():N}", events, done));
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < events; i++) actor.Tell(BenchActor.PersistOne.Instance);
        await done.Task.WaitAsync(RunTimeout);
        watch.Stop();
        actor.Tell(PoisonPill.Instance);
        return events / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> ManyActorsAsync(ActorSystem system, int batchesPerActor, int batchSize)
    {
        var perActor = batchesPerActor * batchSize;
        var completions = Enumerable.Range(0, Actors).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var actors = completions.Select(c => system.ActorOf(BenchActor.Props($"many-{Guid.NewGuid():N}", perActor, c))).ToArray();
        var batch = new BenchActor.PersistBatch(batchSize);
        var watch = Stopwatch.StartNew();
        for (var b = 0; b < batchesPerActor; b++)
            foreach (var actor in actors) actor.Tell(batch);
        await Task.WhenAll(completions.Select(c => c.Task)).WaitAsync(RunTimeout);
        watch.Stop();
        foreach (var actor in actors) actor.Tell(PoisonPill.Instance);
        return Actors * perActor / watch.Elapsed.TotalSeconds;
    }

    private static void Report(string scenario, List<double> rates, double target)
    {
        var sorted = rates.Order().ToArray();
        var median = sorted[sorted.Length / 2];
        Console.WriteLine($"{scenario}: median {median:N0} events/s (min {sorted[0]:N0}, max {sorted[^1]:N0}) over {sorted.Length} runs; target >= {target:N0} {(median >= target ? "MET" : "MISSED")}");
    }
}

/// <summary>Persists what it is told and completes a promise once it has persisted the expected number of events.</summary>
internal sealed class BenchActor : ReceivePersistentActor
{
    public sealed class PersistOne
    {
        public static readonly PersistOne Instance = new();
        private PersistOne() { }
    }

    public sealed record PersistBatch(int Size);

    private static readonly byte[] Payload = new byte[100];
    private readonly int _expected;
    private readonly TaskCompletionSource _done;
    private int _persisted;

    public BenchActor(string persistenceId, int expected, TaskCompletionSource done)
    {
        PersistenceId = persistenceId;
        _expected = expected;
        _done = done;
        Command<PersistOne>(_ => Persist(Payload, _ => Count()));
        Command<PersistBatch>(b => PersistAll(Enumerable.Repeat(Payload, b.Size), _ => Count()));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId, int expected, TaskCompletionSource done) =>
        Akka.Actor.Props.Create(() => new BenchActor(persistenceId, expected, done));

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _done.TrySetException(cause);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    private void Count()
    {
        if (++_persisted == _expected) _done.TrySetResult();
    }
}
