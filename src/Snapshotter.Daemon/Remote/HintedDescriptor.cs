using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// A layer's descriptor from its Prepare labels, where containerd copied our converter's hints from
/// the manifest (their keys begin with <c>containerd.io/snapshot/</c>, <see cref="TocOffsetHint"/>):
/// the blob's size, where its TOC begins and its prefetch ranges. With them a mount reads the
/// layer's tail at once instead of fetching the image's manifest first (two round trips on a new
/// connection). The size only places the reads: the footer, TOC digest and chunks are verified as
/// always, and a tail that does not open with it is read again with the manifest's descriptor.
/// </summary>
internal static class HintedDescriptor
{
    /// <summary>The descriptor the labels describe, or null when they carry no usable blob size.</summary>
    public static Descriptor? FromLabels(IReadOnlyDictionary<string, string> labels, Digest layer)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (TocOffsetHint.ParseSize(labels.GetValueOrDefault(TocOffsetHint.SizeAnnotation)) is not { } size)
        {
            return null;
        }
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in (string[])[TocOffsetHint.Annotation, PrefetchHint.Annotation])
        {
            if (labels.TryGetValue(key, out var value))
            {
                annotations[key] = value;
            }
        }
        return new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = layer, Size = size, Annotations = annotations };
    }
}
