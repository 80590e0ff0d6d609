using System.Runtime.Serialization;
using Akka.Actor;
using AkkaSerialization = Akka.Serialization.Serialization;

namespace Hive.Persistence.Redis;

/// <summary>A payload in its stored form: the bytes plus what Akka needs to find the serializer again.</summary>
internal readonly record struct SerializedPayload(int SerializerId, string Manifest, byte[] Bytes);

/// <summary>Serialization through Akka's serialization system, so any registered serializer works.</summary>
internal sealed class PayloadSerialization
{
    private readonly AkkaSerialization _serialization;
    private readonly string? _defaultSerializer;

    public PayloadSerialization(ActorSystem system, string? defaultSerializer)
    {
        _serialization = system.Serialization;
        _defaultSerializer = defaultSerializer;
    }

    public SerializedPayload Serialize(object payload)
    {
        var serializer = _defaultSerializer is null
            ? _serialization.FindSerializerFor(payload)
            : _serialization.FindSerializerForType(payload.GetType(), _defaultSerializer);
        // WithTransport makes actor refs inside the payload serialize with their full local address.
        return AkkaSerialization.WithTransport(_serialization.System, (payload, serializer), static state =>
        {
            var (p, s) = state;
            return new SerializedPayload(s.Identifier, AkkaSerialization.ManifestFor(s, p), s.ToBinary(p));
        });
    }

    public object Deserialize(in SerializedPayload payload) =>
        _serialization.Deserialize(payload.Bytes, payload.SerializerId, payload.Manifest);
}

/// <summary>
/// One journal entry as stored in the events sorted set (binary, little-endian, versioned):
/// version:byte, sequenceNr:i64, timestamp:i64, serializerId:i32, serializerManifest:str,
/// eventManifest:str, writerGuid:str, tagCount:i32, tags:str*, payloadLength:i32, payload:bytes.
/// </summary>
internal sealed record EventRecord(
    long SequenceNr,
    long Timestamp,
    string EventManifest,
    string WriterGuid,
    IReadOnlyList<string> Tags,
    SerializedPayload Payload)
{
    private const byte Version = 1;

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream(64 + Payload.Bytes.Length);
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(Version);
            writer.Write(SequenceNr);
            writer.Write(Timestamp);
            writer.Write(Payload.SerializerId);
            writer.Write(Payload.Manifest);
            writer.Write(EventManifest);
            writer.Write(WriterGuid);
            writer.Write(Tags.Count);
            foreach (var tag in Tags) writer.Write(tag);
            writer.Write(Payload.Bytes.Length);
            writer.Write(Payload.Bytes);
        }

        return stream.ToArray();
    }

    public static EventRecord FromBytes(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false));
        var version = reader.ReadByte();
        if (version != Version)
            throw new SerializationException($"Unknown journal record version {version}; this plugin reads version {Version}.");
        var sequenceNr = reader.ReadInt64();
        var timestamp = reader.ReadInt64();
        var serializerId = reader.ReadInt32();
        var serializerManifest = reader.ReadString();
        var eventManifest = reader.ReadString();
        var writerGuid = reader.ReadString();
        var tags = new string[reader.ReadInt32()];
        for (var i = 0; i < tags.Length; i++) tags[i] = reader.ReadString();
        var payload = reader.ReadBytes(reader.ReadInt32());
        return new EventRecord(sequenceNr, timestamp, eventManifest, writerGuid, tags, new SerializedPayload(serializerId, serializerManifest, payload));
    }
}

/// <summary>One snapshot as stored in the snapshot-data hash: version:byte, serializerId:i32, manifest:str, payloadLength:i32, payload.</summary>
internal static class SnapshotRecord
{
    private const byte Version = 1;

    public static byte[] ToBytes(in SerializedPayload payload)
    {
        using var stream = new MemoryStream(32 + payload.Bytes.Length);
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(Version);
            writer.Write(payload.SerializerId);
            writer.Write(payload.Manifest);
            writer.Write(payload.Bytes.Length);
            writer.Write(payload.Bytes);
        }

        return stream.ToArray();
    }

    public static SerializedPayload FromBytes(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false));
        var version = reader.ReadByte();
        if (version != Version)
            throw new SerializationException($"Unknown snapshot record version {version}; this plugin reads version {Version}.");
        var serializerId = reader.ReadInt32();
        var manifest = reader.ReadString();
        return new SerializedPayload(serializerId, manifest, reader.ReadBytes(reader.ReadInt32()));
    }
}
