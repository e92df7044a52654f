using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>The layer annotations a converter writes (protocols.md §4.4).</summary>
internal static class Annotations
{
    public const string TocDigest = "containerd.io/snapshot/stargz/toc.digest";
    public const string UncompressedSize = "io.containers.estargz.uncompressed-size";
    public const string ZstdChunkedChecksum = EstargzConstants.ZstdChunkedManifestChecksumAnnotation;
    public const string ZstdChunkedPosition = EstargzConstants.ZstdChunkedManifestPositionAnnotation;

    /// <summary>The media type of a layer written in <paramref name="format"/>: zstd:chunked is tar+zstd, eStargz tar+gzip whatever the source said.</summary>
    public static string LayerMediaType(EstargzFormat format) => format == EstargzFormat.ZstdChunked ? MediaTypes.OciLayerZstd : MediaTypes.OciLayerGzip;
}
