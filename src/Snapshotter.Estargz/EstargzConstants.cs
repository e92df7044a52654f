namespace Snapshotter.Estargz;

/// <summary>Names the eStargz format fixes: the TOC entry, landmark files and layer annotations.</summary>
public static class EstargzConstants
{
    /// <summary>The tar entry that holds the TOC JSON; always the last entry of the tar stream.</summary>
    public const string TocFileName = "stargz.index.json";

    /// <summary>Marks the end of the prioritized files: prefetch everything before its member.</summary>
    public const string PrefetchLandmark = ".prefetch.landmark";

    /// <summary>Present when nothing is prioritized: prefetch nothing.</summary>
    public const string NoPrefetchLandmark = ".no.prefetch.landmark";

    /// <summary>The one byte a landmark file holds.</summary>
    public const byte LandmarkContent = 0x0f;

    /// <summary>Layer descriptor annotation carrying the TOC digest.</summary>
    public const string TocDigestAnnotation = "containerd.io/snapshot/stargz/toc.digest";

    /// <summary>Layer descriptor annotation carrying the uncompressed (diff) size.</summary>
    public const string UncompressedSizeAnnotation = "io.containers.estargz.uncompressed-size";

    /// <summary>zstd:chunked layer annotation: sha256 of the compressed TOC (containers/storage's "manifest").</summary>
    public const string ZstdChunkedManifestChecksumAnnotation = "io.containers.zstd-chunked.manifest-checksum";

    /// <summary>zstd:chunked layer annotation: <c>offset:compressedLength:uncompressedLength:1</c> of the compressed TOC.</summary>
    public const string ZstdChunkedManifestPositionAnnotation = "io.containers.zstd-chunked.manifest-position";

    public const int DefaultChunkSize = 4 * 1024 * 1024;
}
