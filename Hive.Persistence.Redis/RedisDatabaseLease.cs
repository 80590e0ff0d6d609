using StackExchange.Redis;

namespace Hive.Persistence.Redis;

/// <summary>
/// A plugin's handle on its (possibly shared) connection: connects on first use, connects again after a
/// failed attempt (a failed connect is never cached), and releases the connection once when the plugin stops.
/// </summary>
internal sealed class RedisDatabaseLease
{
    private readonly RedisConnections _connections;
    private readonly RedisConnectionSettings _settings;
    private readonly object _lock = new();
    private Task<IDatabase>? _database;
    private Task<IConnectionMultiplexer>? _multiplexer;

    public RedisDatabaseLease(RedisConnections connections, RedisConnectionSettings settings)
    {
        _connections = connections;
        _settings = settings;
    }

    public Task<IDatabase> GetAsync()
    {
        lock (_lock)
        {
            if (_database is null || _database.IsFaulted || _database.IsCanceled)
                _database = ConnectAsync();
            return _database;
        }
    }

    public void Release()
    {
        lock (_lock)
        {
            if (_multiplexer is not null) _connections.Release(_multiplexer, _settings);
        }
    }

    private async Task<IDatabase> ConnectAsync()
    {
        var pending = _connections.GetMultiplexerAsync(_settings);
        _multiplexer = pending;
        var multiplexer = await pending.ConfigureAwait(false);
        return multiplexer.GetDatabase(_settings.EffectiveDatabase);
    }
}
