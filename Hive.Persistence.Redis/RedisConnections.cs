using Akka.Actor;
using Akka.Event;
using StackExchange.Redis;

namespace Hive.Persistence.Redis;

/// <summary>
/// Per-ActorSystem registry of Redis multiplexers used by the plugins. Connects asynchronously
/// (abortConnect=false), shares one multiplexer per connection identity, never keeps a failed connect
/// attempt (the next call tries again), and closes what it opened when the ActorSystem terminates.
/// A multiplexer supplied through <see cref="RedisPersistenceSetup"/> takes precedence and is left open.
/// </summary>
public sealed class RedisConnections : IExtension
{
    private readonly ExtendedActorSystem _system;
    private readonly IConnectionMultiplexer? _supplied;
    private readonly Dictionary<string, Task<IConnectionMultiplexer>> _shared = new(StringComparer.Ordinal);
    private readonly List<Task<IConnectionMultiplexer>> _owned = [];
    private readonly object _lock = new();
    private bool _terminated;

    public RedisConnections(ExtendedActorSystem system)
    {
        _system = system;
        _supplied = system.Settings.Setup.Get<RedisPersistenceSetup>().Value?.Multiplexer;
        system.RegisterOnTermination(CloseOwned);
    }

    public static RedisConnections Get(ActorSystem system) => system.WithExtension<RedisConnections, RedisConnectionsProvider>();

    /// <summary>The multiplexer for these settings; completes once the multiplexer exists (not necessarily connected yet).</summary>
    public Task<IConnectionMultiplexer> GetMultiplexerAsync(RedisConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (_supplied is not null) return Task.FromResult(_supplied);

        lock (_lock)
        {
            if (_terminated) return Task.FromException<IConnectionMultiplexer>(new ObjectDisposedException(nameof(RedisConnections), "The ActorSystem has terminated."));
            if (!settings.ShareConnection) return Track(ConnectAsync(settings));


            string key;
            try
            {
                key = settings.SharingKey;
            }
            catch (Exception e)
            {
                return Task.FromException<IConnectionMultiplexer>(e);
            }

            if (_shared.TryGetValue(key, out var existing) && !existing.IsFaulted && !existing.IsCanceled)
                return existing;

            var created = Track(ConnectAsync(settings));
            _shared[key] = created;
            // Never cache a failure: drop the entry so that the next caller connects anew.
            created.ContinueWith(t =>
            {
                lock (_lock)
                {
                    if (_shared.TryGetValue(key, out var current) && ReferenceEquals(current, t)) _shared.Remove(key);
                }
            }, CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return created;
        }
    }

    /// <summary>
    /// Called by a plugin that stops: closes its multiplexer if it was opened for that plugin alone
    /// (<c>share-connection = off</c>). Shared and application-supplied multiplexers stay open.
    /// </summary>
    public void Release(Task<IConnectionMultiplexer> multiplexer, RedisConnectionSettings settings)
    {
        if (_supplied is not null || settings.ShareConnection) return;
        lock (_lock)
        {
            if (!_owned.Remove(multiplexer)) return;
        }

        multiplexer.ContinueWith(static t =>
        {
            if (t.IsCompletedSuccessfully) t.Result.Dispose();
        }, TaskScheduler.Default);
    }

    private Task<IConnectionMultiplexer> Track(Task<IConnectionMultiplexer> task)
    {
        _owned.Add(task);
        return task;
    }

    private async Task<IConnectionMultiplexer> ConnectAsync(RedisConnectionSettings settings)
    {
        var options = settings.ToConfigurationOptions();
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        if (!multiplexer.IsConnected)
            _system.Log.Warning("Redis persistence: not connected to {0} yet; connecting in the background", string.Join(", ", options.EndPoints));
        return multiplexer;
    }

    private void CloseOwned()
    {
        Task<IConnectionMultiplexer>[] owned;
        lock (_lock)
        {
            _terminated = true;
            owned = _owned.ToArray();
            _owned.Clear();
            _shared.Clear();
        }

        foreach (var task in owned)
        {
            task.ContinueWith(static t =>
            {
                if (t.IsCompletedSuccessfully) t.Result.Dispose();
            }, TaskScheduler.Default);
        }
    }
}

public sealed class RedisConnectionsProvider : ExtensionIdProvider<RedisConnections>
{
    public override RedisConnections CreateExtension(ExtendedActorSystem system) => new(system);
}
