using System.Collections.Frozen;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Hive.Actors.Entities;

namespace Hive.Actors.Serialization;

/// <summary>
/// Serializes Hive's cluster messages, persisted events and snapshots (everything marked
/// <see cref="IHiveMessage"/>) as System.Text.Json with a stable string manifest per type, so events
/// written today are readable after an upgrade and an unknown manifest fails loudly.
/// </summary>
public sealed class HiveMessageSerializer : SerializerWithStringManifest
{
    public const int Id = 1742;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly FrozenDictionary<Type, string> Manifests = typeof(IHiveMessage).Assembly.GetTypes()
        .Where(t => typeof(IHiveMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .ToFrozenDictionary(t => t, t => t.FullName!.Replace("Hive.Actors.", "", StringComparison.Ordinal));

    private static readonly FrozenDictionary<string, Type> Types = Manifests.ToFrozenDictionary(kv => kv.Value, kv => kv.Key);

    public HiveMessageSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => Id;

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var manifest) ? manifest : throw new ArgumentException($"{o.GetType()} is not a Hive message");

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!Types.TryGetValue(manifest, out var type))
            throw new SerializationException($"unknown Hive message manifest '{manifest}' (written by a newer version?)");
        return JsonSerializer.Deserialize(bytes, type, Options) ?? throw new SerializationException($"empty {manifest}");
    }
}
