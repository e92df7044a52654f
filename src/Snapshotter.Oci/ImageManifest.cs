using System.Text.Json;
using System.Text.Json.Serialization;

namespace Snapshotter.Oci;

/// <summary>An OCI image manifest or a Docker schema 2 manifest (the JSON shapes are the same).</summary>
public sealed record ImageManifest
{
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; init; } = 2;

    [JsonPropertyName("mediaType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MediaType { get; init; } = MediaTypes.OciManifest;

    [JsonPropertyName("artifactType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ArtifactType { get; init; }

    [JsonPropertyName("config")]
    public required Descriptor Config { get; init; }

    [JsonPropertyName("layers")]
    public required IReadOnlyList<Descriptor> Layers { get; init; }

    [JsonPropertyName("subject")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Descriptor? Subject { get; init; }

    [JsonPropertyName("annotations")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Parses and validates a manifest; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static ImageManifest Parse(ReadOnlySpan<byte> json)
    {
        var manifest = OciJson.Deserialize(json, OciJsonContext.Default.ImageManifest, "image manifest");
        OciJson.CheckHeader(manifest.SchemaVersion, manifest.MediaType, MediaTypes.IsManifest, "image manifest");
        if (manifest.Config is null)
        {
            throw new FormatException("invalid image manifest: config is required");
        }
        manifest.Config.Validate("image manifest config");
        OciJson.CheckDescriptors(manifest.Layers, "layers", "image manifest");
        return manifest;
    }

    /// <summary>The compact JSON of this manifest; its digest is the manifest's digest.</summary>
    public byte[] ToJsonBytes() => JsonSerializer.SerializeToUtf8Bytes(this, OciJsonContext.Default.ImageManifest);
}

/// <summary>An OCI image index or a Docker manifest list.</summary>
public sealed record ImageIndex
{
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; init; } = 2;

    [JsonPropertyName("mediaType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MediaType { get; init; } = MediaTypes.OciIndex;

    [JsonPropertyName("artifactType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ArtifactType { get; init; }

    [JsonPropertyName("manifests")]
    public required IReadOnlyList<Descriptor> Manifests { get; init; }

    [JsonPropertyName("subject")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Descriptor? Subject { get; init; }

    [JsonPropertyName("annotations")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    public static ImageIndex Parse(ReadOnlySpan<byte> json)
    {
        var index = OciJson.Deserialize(json, OciJsonContext.Default.ImageIndex, "image index");
        OciJson.CheckHeader(index.SchemaVersion, index.MediaType, MediaTypes.IsIndex, "image index");
        OciJson.CheckDescriptors(index.Manifests, "manifests", "image index");
        return index;
    }

    public byte[] ToJsonBytes() => JsonSerializer.SerializeToUtf8Bytes(this, OciJsonContext.Default.ImageIndex);

    /// <summary>
    /// The image manifest best suited to <paramref name="platform"/> (default: this machine), as
    /// containerd picks: the best platform match, the first listed on a tie. Entries without a
    /// platform, and nested indexes, are not candidates. Throws when nothing matches, listing what is there.
    /// </summary>
    public Descriptor SelectPlatform(Platform? platform = null)
    {
        platform ??= Platform.Default;
        Descriptor? best = null;
        var bestScore = 0;
        foreach (var entry in Manifests)
        {
            if (entry.Platform is null || !MediaTypes.IsManifest(entry.MediaType))
            {
                continue;
            }
            var score = platform.MatchScore(entry.Platform);
            if (score > bestScore)
            {
                (best, bestScore) = (entry, score);
            }
        }
        if (best is null)
        {
            var available = string.Join(", ", Manifests.Select(m => m.Platform?.ToString() ?? "(no platform)"));
            throw new PlatformNotFoundException(platform, $"no manifest for platform {platform} in the index; available: {(available.Length == 0 ? "none" : available)}");
        }
        return best;
    }
}

/// <summary>An index lists no manifest for the wanted platform.</summary>
public sealed class PlatformNotFoundException(Platform platform, string message) : Exception(message)
{
    public Platform Platform { get; } = platform;
}

/// <summary>Tells manifests from indexes when the Content-Type header is missing or generic.</summary>
public static class ManifestKind
{
    /// <summary>
    /// The media type of a manifest or index document: its <c>mediaType</c> field if present, else
    /// guessed from its shape (<c>manifests</c> → index, <c>config</c>/<c>layers</c> → manifest);
    /// <paramref name="contentType"/> is used when it names a manifest or index type.
    /// </summary>
    public static string Detect(ReadOnlySpan<byte> json, string? contentType = null)
    {
        var bare = contentType?.Split(';')[0].Trim();
        if (MediaTypes.IsManifest(bare) || MediaTypes.IsIndex(bare))
        {
            return bare!;
        }
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("invalid manifest: the document is not a JSON object");
            }
            if (root.TryGetProperty("mediaType", out var mediaType) && mediaType.ValueKind == JsonValueKind.String)
            {
                return mediaType.GetString()!;
            }
            if (root.TryGetProperty("manifests", out _))
            {
                return MediaTypes.OciIndex;
            }
            if (root.TryGetProperty("config", out _) || root.TryGetProperty("layers", out _))
            {
                return MediaTypes.OciManifest;
            }
            throw new FormatException("invalid manifest: neither mediaType, manifests nor layers is present");
        }
        catch (JsonException e)
        {
            throw new FormatException($"invalid manifest: not JSON ({e.Message})", e);
        }
    }
}
