using System.Text.Json;
using System.Text.Json.Serialization;

namespace Snapshotter.Oci;

/// <summary>An OCI content descriptor: what a blob is, its digest and size, and where else it may be found.</summary>
public sealed record Descriptor
{
    [JsonPropertyName("mediaType")]
    public required string MediaType { get; init; }

    [JsonPropertyName("digest")]
    public required Digest Digest { get; init; }

    [JsonPropertyName("size")]
    public required long Size { get; init; }

    [JsonPropertyName("urls")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Urls { get; init; }

    [JsonPropertyName("annotations")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonPropertyName("platform")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Platform? Platform { get; init; }

    [JsonPropertyName("artifactType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ArtifactType { get; init; }

    /// <summary>Fields this model does not know, kept so that a rewritten document loses nothing.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>The annotation value, or null when the descriptor has no such annotation.</summary>
    public string? Annotation(string key) =>
        Annotations is not null && Annotations.TryGetValue(key, out var value) ? value : null;

    /// <summary>A copy of this descriptor with one annotation added or replaced.</summary>
    public Descriptor WithAnnotation(string key, string value)
    {
        var annotations = Annotations is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(Annotations, StringComparer.Ordinal);
        annotations[key] = value;
        return this with { Annotations = annotations };
    }

    /// <summary>A descriptor of <paramref name="content"/> with its digest and size computed.</summary>
    public static Descriptor For(string mediaType, ReadOnlySpan<byte> content) =>
        new() { MediaType = mediaType, Digest = Digest.Compute(content), Size = content.Length };

    internal void Validate(string what)
    {
        if (string.IsNullOrEmpty(MediaType))
        {
            throw new FormatException($"{what}: descriptor {Digest} has no mediaType");
        }
        if (Digest.Value is null)
        {
            throw new FormatException($"{what}: descriptor has no digest");
        }
        if (Size < 0)
        {
            throw new FormatException($"{what}: descriptor {Digest} has a negative size {Size}");
        }
    }

    public override string ToString() => $"{MediaType} {Digest} ({Size} bytes)";
}

/// <summary>Reads and writes <see cref="Oci.Digest"/> as its string form, rejecting malformed digests.</summary>
public sealed class DigestJsonConverter : JsonConverter<Digest>
{
    public override Digest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"a digest must be a string, found {reader.TokenType}");
        }
        var text = reader.GetString();
        return Digest.TryParse(text, out var digest)
            ? digest
            : throw new JsonException($"invalid digest '{(text!.Length > 80 ? text[..80] + "…" : text)}'");
    }

    public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.Value);
    }
}
