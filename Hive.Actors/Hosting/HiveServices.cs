using Hive.Actors.Callbacks;
using Hive.Actors.Configuration;
using Hive.Actors.Entities;
using Hive.Actors.Messaging;
using StackExchange.Redis;

namespace Hive.Actors.Hosting;

/// <summary>The node's shared, thread-safe services handed to actors through their Props.</summary>
public sealed record HiveServices(
    HiveSettings Settings,
    IHiveBus Bus,
    ICallbackSender Callbacks,
    IConnectionMultiplexer Redis,
    OpenTaskIndex Index);
