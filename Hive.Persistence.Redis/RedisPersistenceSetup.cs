using Akka.Actor.Setup;
using StackExchange.Redis;

namespace Hive.Persistence.Redis;

/// <summary>
/// Hands an application-owned <see cref="IConnectionMultiplexer"/> to every Redis plugin of an ActorSystem
/// (e.g. the one the application registered in DI). The plugins never close it.
/// Add it with <c>BootstrapSetup.And(...)</c> or <c>WithRedisPersistence(..., multiplexer: ...)</c>.
/// </summary>
public sealed class RedisPersistenceSetup : Setup
{
    public RedisPersistenceSetup(IConnectionMultiplexer multiplexer) =>
        Multiplexer = multiplexer ?? throw new ArgumentNullException(nameof(multiplexer));

    public IConnectionMultiplexer Multiplexer { get; }
}
