using System.Text.Json;
using System.Text.Json.Nodes;

namespace Snapshotter.Oci;

/// <summary>
/// An image configuration (OCI or Docker). The whole JSON object is kept as read, so that a
/// converter can replace <c>rootfs.diff_ids</c> and write the config back without losing any
/// other field, known to this model or not.
/// </summary>
public sealed class ImageConfig
{
    private readonly JsonObject _root;

    private ImageConfig(JsonObject root) => _root = root;

    /// <summary>Parses a config; <c>rootfs.diff_ids</c>, if present, must be a list of valid digests.</summary>
    public static ImageConfig Parse(ReadOnlySpan<byte> json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new FormatException($"invalid image config: not JSON ({e.Message})", e);
        }
        if (node is not JsonObject root)
        {
            throw new FormatException("invalid image config: the document is not a JSON object");
        }
        var config = new ImageConfig(root);
        _ = config.DiffIds;
        return config;
    }

    /// <summary>A config for a new image with the given platform and layers, and nothing else.</summary>
    public static ImageConfig Create(Platform platform, IEnumerable<Digest> diffIds)
    {
        ArgumentNullException.ThrowIfNull(platform);
        var root = new JsonObject
        {
            ["architecture"] = platform.Architecture,
            ["os"] = platform.Os,
        };
        if (platform.Variant is not null)
        {
            root["variant"] = platform.Variant;
        }
        var config = new ImageConfig(root);
        config.DiffIds = diffIds.ToList();
        return config;
    }

    public string? Os => String("os");

    public string? Architecture => String("architecture");

    public string? Variant => String("variant");

    /// <summary>The platform the config declares, or null when it names no os/architecture.</summary>
    public Platform? Platform => Os is { Length: > 0 } os && Architecture is { Length: > 0 } arch ? new Platform(os, arch, Variant) : null;

    /// <summary>
    /// <c>rootfs.diff_ids</c>, the digests of the uncompressed layers in order. Setting it writes
    /// <c>rootfs.type = "layers"</c> and the list, leaving every other field as it was.
    /// </summary>
    public IReadOnlyList<Digest> DiffIds
    {
        get
        {
            if (_root["rootfs"] is not JsonObject rootfs || rootfs["diff_ids"] is not { } ids)
            {
                return [];
            }
            if (ids is not JsonArray array)
            {
                throw new FormatException("invalid image config: rootfs.diff_ids is not a list");
            }
            var result = new List<Digest>(array.Count);
            foreach (var item in array)
            {
                var text = item is JsonValue value && value.TryGetValue<string>(out var s) ? s : null;
                if (!Digest.TryParse(text, out var digest))
                {
                    throw new FormatException($"invalid image config: rootfs.diff_ids[{result.Count}] is not a digest");
                }
                result.Add(digest);
            }
            return result;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (_root["rootfs"] is not JsonObject rootfs)
            {
                rootfs = new JsonObject();
                _root["rootfs"] = rootfs;
            }
            rootfs["type"] = "layers";
            rootfs["diff_ids"] = new JsonArray(value.Select(d => (JsonNode?)JsonValue.Create(d.Value)).ToArray());
        }
    }

    /// <summary>The raw JSON object, for fields this model does not name (history, config.Env…).</summary>
    public JsonObject Json => _root;

    /// <summary>The compact JSON of this config; its digest is the config descriptor's digest.</summary>
    public byte[] ToJsonBytes() => JsonSerializer.SerializeToUtf8Bytes(_root, OciJsonContext.Default.JsonObject);

    private string? String(string name) =>
        _root[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
