using System.Buffers;
using System.Text.Json;

namespace Hive.Actors.Contracts;

/// <summary>Small helpers shared by the contract writers and readers.</summary>
internal static class JsonBytes
{
    public static byte[] Write(Action<Utf8JsonWriter> write, int initialCapacity = 512)
    {
        var buffer = new ArrayBufferWriter<byte>(initialCapacity);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void NumberOrNull(this Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    public static void NumberOrNull(this Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    public static void NumberOrNull(this Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    public static void TimeOrNull(this Utf8JsonWriter w, string name, DateTimeOffset? value)
    {
        if (value is { } v) w.WriteString(name, v);
        else w.WriteNull(name);
    }

    public static void ElementOrNull(this Utf8JsonWriter w, string name, JsonElement? value)
    {
        w.WritePropertyName(name);
        if (value is { } v && v.ValueKind != JsonValueKind.Undefined) v.WriteTo(w);
        else w.WriteNullValue();
    }

    public static void Lines(this Utf8JsonWriter w, string name, IEnumerable<string> lines)
    {
        w.WriteStartArray(name);
        foreach (var line in lines) w.WriteStringValue(line);
        w.WriteEndArray();
    }

    /// <summary>Parses <paramref name="json"/> into a document whose root is an object, or returns null.</summary>
    public static JsonDocument? TryParseObject(ReadOnlySpan<byte> json)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json)) return null;
        try
        {
            var reader = new Utf8JsonReader(json);
            var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind == JsonValueKind.Object && !reader.Read()) return document;
            document.Dispose();
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string? String(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? SafeString(e) : null;

    /// <summary>The string, or null when it holds an escape that is not valid UTF-16 (a lone surrogate).</summary>
    public static string? SafeString(JsonElement e)
    {
        try
        {
            return e.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    public static int? Int(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : null;

    public static long? Long(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) ? v : null;

    public static double? Double(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var v) ? v : null;

    public static DateTimeOffset? Time(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String && e.TryGetDateTimeOffset(out var v) ? v : null;

    public static JsonElement? Element(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? e.Clone() : null;

    public static IReadOnlyList<string>? StringList(this JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.Array) return null;
        return StringList(e);
    }

    public static IReadOnlyList<string>? StringList(JsonElement array)
    {
        var list = new List<string>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || SafeString(item) is not { } text) return null;
            list.Add(text);
        }

        return list;
    }
}
