using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Snapshotter.Oci;

[JsonSourceGenerationOptions(
    Converters = [typeof(DigestJsonConverter)],
    AllowDuplicateProperties = false,
    MaxDepth = 64)]
[JsonSerializable(typeof(ImageManifest))]
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(Descriptor))]
[JsonSerializable(typeof(Platform))]
[JsonSerializable(typeof(OciLayoutFile))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class OciJsonContext : JsonSerializerContext;

/// <summary>The <c>oci-layout</c> marker file.</summary>
internal sealed record OciLayoutFile
{
    [JsonPropertyName("imageLayoutVersion")]
    public required string ImageLayoutVersion { get; init; }
}

internal static class OciJson
{
    /// <summary>Deserializes with the source-generated metadata, turning every JSON error into a <see cref="FormatException"/> naming <paramref name="what"/>.</summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> json, JsonTypeInfo<T> type, string what)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new FormatException($"invalid {what}: the document is null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"invalid {what}: {e.Message}", e);
        }
    }

    public static void CheckHeader(int schemaVersion, string? mediaType, Func<string?, bool> isExpectedKind, string what)
    {
        if (schemaVersion != 2)
        {
            throw new FormatException($"invalid {what}: schemaVersion {schemaVersion}, expected 2");
        }
        if (mediaType is not null && !isExpectedKind(mediaType))
        {
            throw new FormatException($"invalid {what}: mediaType '{mediaType}' is not an {what}");
        }
    }

    public static void CheckDescriptors(IReadOnlyList<Descriptor>? descriptors, string field, string what)
    {
        if (descriptors is null)
        {
            throw new FormatException($"invalid {what}: {field} is required");
        }
        foreach (var descriptor in descriptors)
        {
            if (descriptor is null)
            {
                throw new FormatException($"invalid {what}: null descriptor in {field}");
            }
            descriptor.Validate($"{what} {field}");
        }
    }
}
