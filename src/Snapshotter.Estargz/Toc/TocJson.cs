using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Snapshotter.Estargz;

/// <summary>Reads and writes TOC JSON with the source-generated serializer, in Go's byte format.</summary>
internal static class TocJson
{
    /// <summary>Go's MarshalIndent(v, "", "\t"): one tab per level, "\n" line ends, ": " after keys.</summary>
    private static readonly JsonWriterOptions GoIndented = new()
    {
        Indented = true,
        IndentCharacter = '\t',
        IndentSize = 1,
        NewLine = "\n",
        Encoder = GoJsonEncoder.Instance,
    };

    public static byte[] Serialize(Toc toc)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64 * 1024);
        using (var writer = new Utf8JsonWriter(buffer, GoIndented))
        {
            JsonSerializer.Serialize(writer, toc, TocJsonContext.Default.Toc);
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static Toc Deserialize(ReadOnlySpan<byte> json)
    {
        Toc? toc;
        try
        {
            toc = JsonSerializer.Deserialize(json, TocJsonContext.Default.Toc);
        }
        catch (JsonException e)
        {
            throw new EstargzFormatException($"TOC is not valid JSON: {e.Message}", e);
        }
        if (toc is null)
        {
            throw new EstargzFormatException("TOC JSON is null");
        }
        if (toc.Entries is null || toc.Entries.Any(e => e is null))
        {
            throw new EstargzFormatException("TOC has no entries array or a null entry");
        }
        return toc;
    }
}

[JsonSourceGenerationOptions(
    GenerationMode = JsonSourceGenerationMode.Metadata,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(Toc))]
internal sealed partial class TocJsonContext : JsonSerializerContext;

/// <summary>
/// Writes an xattr map with keys in ordinal order, as Go's encoding/json sorts map keys, so the
/// TOC bytes do not depend on dictionary insertion order.
/// </summary>
internal sealed class XattrsJsonConverter : JsonConverter<IDictionary<string, byte[]>>
{
    public override IDictionary<string, byte[]>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("xattrs must be an object");
        }
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString() ?? throw new JsonException("xattr name is null");
            reader.Read();
            result[key] = reader.TokenType == JsonTokenType.Null ? [] : reader.GetBytesFromBase64();
        }
        return result;
    }

    public override void Write(Utf8JsonWriter writer, IDictionary<string, byte[]> value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (key, bytes) in value.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            writer.WriteBase64String(key, bytes);
        }
        writer.WriteEndObject();
    }
}

/// <summary>
/// Escapes strings the way Go's encoding/json does: control characters, quote and backslash,
/// plus <c>&lt; &gt; &amp;</c> and U+2028/U+2029 as <c>\u00XX</c>; all other text (non-ASCII
/// included) is written raw. The default .NET encoder escapes far more, which would change
/// TOC bytes (and the TOC digest) for names with non-ASCII characters.
/// </summary>
internal sealed class GoJsonEncoder : JavaScriptEncoder
{
    public static readonly GoJsonEncoder Instance = new();

    public override int MaxOutputCharactersPerInputCharacter => 6;

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar < 0x20 || unicodeScalar is '"' or '\\' or '<' or '>' or '&' or 0x2028 or 0x2029;

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        var span = new ReadOnlySpan<char>(text, textLength);
        for (var i = 0; i < span.Length; i++)
        {
            if (WillEncode(span[i]))
            {
                return i;
            }
        }
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        var output = new Span<char>(buffer, bufferLength);
        ReadOnlySpan<char> escaped = unicodeScalar switch
        {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\b' => "\\b",
            '\f' => "\\f",
            _ => default,
        };
        if (escaped.IsEmpty && WillEncode(unicodeScalar))
        {
            if (output.Length < 6)
            {
                numberOfCharactersWritten = 0;
                return false;
            }
            "\\u".CopyTo(output);
            ((ushort)unicodeScalar).TryFormat(output[2..], out _, "x4", System.Globalization.CultureInfo.InvariantCulture);
            numberOfCharactersWritten = 6;
            return true;
        }
        if (escaped.IsEmpty)
        {
            // Not a character we escape: write it as is.
            var rune = new System.Text.Rune(unicodeScalar);
            if (!rune.TryEncodeToUtf16(output, out numberOfCharactersWritten))
            {
                return false;
            }
            return true;
        }
        if (escaped.Length > output.Length)
        {
            numberOfCharactersWritten = 0;
            return false;
        }
        escaped.CopyTo(output);
        numberOfCharactersWritten = escaped.Length;
        return true;
    }
}
