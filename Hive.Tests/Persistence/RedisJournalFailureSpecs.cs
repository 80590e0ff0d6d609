using Akka.Actor;
using Akka.TestKit;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Persistence;

/// <summary>Redis going away under a persistent actor: a persist failure (not a hang), then recovery once Redis is back.</summary>
public sealed class RedisJournalFailureSpecs : IAsyncLifetime
{
    private readonly ITestOutputHelper _output;
    private RedisServer _redis = null!;

    public RedisJournalFailureSpecs(ITestOutputHelper output) => _output = output;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartNewAsync();

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task Redis_stopped_mid_write_fails_the_persist_and_the_journal_works_again_once_redis_is_back()
    {
        var config = PersistenceHocon.For(_redis, "failure-spec", journalExtra: "operation-timeout = 2s");
        using var kit = new Akka.TestKit.Xunit.TestKit(config, "failure-spec", _output);
        var reporter = kit.CreateTestProbe();
        var replies = kit.CreateTestProbe();
        var counter = kit.Sys.ActorOf(CounterActor.Props(PersistenceHocon.NewPid("doomed"), reporter.Ref));
        await kit.WatchAsync(counter);

        counter.Tell(new CounterActor.Add(1), replies.Ref);
        await replies.ExpectMsgAsync<CounterActor.Persisted>(TimeSpan.FromSeconds(10));

        // A stream of writes; Redis dies while they are in flight.
        for (var i = 0; i < 2_000; i++) counter.Tell(new CounterActor.Add(1), replies.Ref);
        await replies.ExpectMsgAsync<CounterActor.Persisted>(TimeSpan.FromSeconds(10));
        await _redis.StopAsync();

        var failed = await reporter.FishForMessageAsync<CounterActor.PersistFailed>(_ => true, TimeSpan.FromSeconds(20));
        _output.WriteLine($"persist failed at {failed.SequenceNr}: {failed.Cause.GetType().Name}: {failed.Cause.Message}");
        await kit.ExpectTerminatedAsync(counter, TimeSpan.FromSeconds(10)); // Akka stops an actor whose persist failed

        await _redis.StartAsync(); // same port; the throwaway server starts empty
        var survivor = kit.Sys.ActorOf(CounterActor.Props(PersistenceHocon.NewPid("survivor"), reporter.Ref));
        await kit.AwaitAssertAsync(async () =>
        {
            survivor.Tell(CounterActor.GetState.Instance, replies.Ref);
            await replies.FishForMessageAsync<CounterActor.State>(_ => true, TimeSpan.FromSeconds(3));
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500));

        survivor.Tell(new CounterActor.Add(5), replies.Ref);
        await replies.FishForMessageAsync<CounterActor.Persisted>(m => m.SequenceNr == 1, TimeSpan.FromSeconds(15));
    }
}
