using System.Reflection;
using Akka.Configuration;
using Hive.Actors.Hosting;

namespace Hive.Tests.Serialization;

/// <summary>
/// The serializer binding exactly as the node registers it (HiveHostingExtensions' private HOCON, read by reflection
/// so the specs cannot drift from production), plus test systems' knobs.
/// </summary>
internal static class HiveSerializationHocon
{
    /// <summary>The HOCON the node prepends: serializer, binding to IHiveMessage, identifier 1742.</summary>
    public static string Production { get; } =
        typeof(HiveHostingExtensions).GetField("Serialization", BindingFlags.NonPublic | BindingFlags.Static)?.GetRawConstantValue() as string
        ?? throw new InvalidOperationException("HiveHostingExtensions.Serialization (the node's serializer HOCON) was not found; update the specs");

    /// <summary>The production binding with every message serialized, even locally, so each one round-trips.</summary>
    public static Config WithVerification(string extra = "") =>
        ConfigurationFactory.ParseString(extra)
            .WithFallback(ConfigurationFactory.ParseString("""
                akka.actor.serialize-messages = on
                akka.actor.serialize-creators = off
                """))
            .WithFallback(ConfigurationFactory.ParseString(Production));
}
