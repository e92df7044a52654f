using Snapshotter.Oci;

namespace Snapshotter.Containerd.Pull;

/// <summary>
/// The labels a pull writes: containerd's GC references and distribution source on content
/// (as its pull handlers do), and the snapshot labels of the remote-snapshot protocol on each
/// layer's Prepare (protocols.md §4.5), which a lazy snapshotter needs to find the layer.
/// </summary>
public static class PullLabels
{
    /// <summary>containerd's limit for a label key plus its value, in bytes.</summary>
    public const int MaxLabelSize = 4096;

    public const string SnapshotRef = "containerd.io/snapshot.ref";

    /// <summary>Layer annotations with this prefix are passed to the snapshotter as labels (containerd's inherited labels).</summary>
    public const string InheritedPrefix = "containerd.io/snapshot/";

    public const string StargzReference = "containerd.io/snapshot/remote/stargz.reference";
    public const string StargzDigest = "containerd.io/snapshot/remote/stargz.digest";
    public const string StargzLayers = "containerd.io/snapshot/remote/stargz.layers";
    public const string CriImageRef = "containerd.io/snapshot/cri.image-ref";
    public const string CriManifestDigest = "containerd.io/snapshot/cri.manifest-digest";
    public const string CriLayerDigest = "containerd.io/snapshot/cri.layer-digest";
    public const string CriImageLayers = "containerd.io/snapshot/cri.image-layers";

    public const string Uncompressed = "containerd.io/uncompressed";
    public const string DistributionSourcePrefix = "containerd.io/distribution.source.";
    public const string GcContentPrefix = "containerd.io/gc.ref.content.";
    public const string GcSnapshotPrefix = "containerd.io/gc.ref.snapshot.";

    /// <summary>
    /// The Prepare labels of layer <paramref name="index"/>: its inherited annotations (the TOC
    /// digest among them), the target chain ID, and both families of remote labels: ctr-remote's
    /// <c>stargz.*</c> and CRI's <c>cri.*</c>. The layer lists run from this layer up, cut to the label limit.
    /// </summary>
    public static Dictionary<string, string> ForLayer(string reference, Digest manifest, IReadOnlyList<Descriptor> layers, int index, Digest chainId)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var layer = layers[index];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in layer.Annotations ?? new Dictionary<string, string>())
        {
            if (key.StartsWith(InheritedPrefix, StringComparison.Ordinal))
            {
                labels[key] = value;
            }
        }
        labels[SnapshotRef] = chainId.Value;
        var above = layers.Skip(index).Select(l => l.Digest.Value).ToList();
        labels[StargzReference] = reference;
        labels[StargzDigest] = layer.Digest.Value;
        labels[StargzLayers] = LayerList(StargzLayers, above);
        labels[CriImageRef] = reference;
        labels[CriManifestDigest] = manifest.Value;
        labels[CriLayerDigest] = layer.Digest.Value;
        labels[CriImageLayers] = LayerList(CriImageLayers, above);
        foreach (var (key, value) in labels)
        {
            Validate(key, value);
        }
        return labels;
    }

    /// <summary>
    /// containerd's GC reference labels of a manifest's or an index's children, numbered per kind as
    /// its <c>SetChildrenMappedLabels</c> does: <c>config</c>, <c>l.N</c> (layers), <c>m.N</c>
    /// (manifests), else <c>N</c>; a key not ending in '.' gets its number from the second child on.
    /// </summary>
    public static Dictionary<string, string> GcReferences(IEnumerable<Descriptor> children)
    {
        ArgumentNullException.ThrowIfNull(children);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var child in children)
        {
            var key = GcContentPrefix + (MediaTypes.IsConfig(child.MediaType) ? "config"
                : MediaTypes.IsManifest(child.MediaType) ? "m."
                : MediaTypes.IsLayer(child.MediaType) ? "l."
                : "");
            var number = counts.GetValueOrDefault(key);
            counts[key] = number + 1;
            if (number > 0 || key.EndsWith('.'))
            {
                key += number.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            labels[key] = child.Digest.Value;
        }
        return labels;
    }

    /// <summary>
    /// containerd's distribution source label: <c>containerd.io/distribution.source.&lt;host without port&gt;</c>
    /// = the sorted, comma-separated repositories the blob was pulled from, <paramref name="existing"/> included.
    /// Null when the merged value would pass the label limit (containerd then leaves the label as it is).
    /// </summary>
    public static KeyValuePair<string, string>? DistributionSource(ImageReference reference, string? existing = null)
    {
        var key = DistributionSourceKey(reference);
        var repositories = (existing ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        repositories.Add(reference.Repository);
        var value = string.Join(',', repositories.Order(StringComparer.Ordinal));
        return key.Length + value.Length <= MaxLabelSize ? new(key, value) : null;
    }

    /// <summary>The distribution source key of a registry (host without port, IPv6 without brackets).</summary>
    public static string DistributionSourceKey(ImageReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return DistributionSourcePrefix + HostName(reference.Registry);
    }

    /// <summary>Comma-separated digests, as many as fit in the label limit with the key.</summary>
    internal static string LayerList(string key, IEnumerable<string> digests)
    {
        var value = "";
        foreach (var digest in digests)
        {
            var next = value.Length == 0 ? digest : value + "," + digest;
            if (key.Length + next.Length > MaxLabelSize)
            {
                break;
            }
            value = next;
        }
        return value;
    }

    private static void Validate(string key, string value)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(key) + System.Text.Encoding.UTF8.GetByteCount(value) > MaxLabelSize)
        {
            throw new ArgumentException($"label {key} would be longer than containerd's {MaxLabelSize}-byte limit");
        }
    }

    private static string HostName(string registry)
    {
        if (registry.StartsWith('['))
        {
            var end = registry.IndexOf(']', StringComparison.Ordinal);
            return end > 0 ? registry[1..end] : registry;
        }
        var colon = registry.LastIndexOf(':');
        return colon >= 0 ? registry[..colon] : registry;
    }
}
