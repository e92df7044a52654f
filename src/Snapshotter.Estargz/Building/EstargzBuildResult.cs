using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>What a conversion produced: the values an image manifest and config need.</summary>
/// <param name="TocDigest">sha256 of the TOC JSON: the <c>containerd.io/snapshot/stargz/toc.digest</c> annotation.</param>
/// <param name="DiffId">sha256 of the whole uncompressed tar stream: the config's rootfs diff_id.</param>
/// <param name="UncompressedSize">Bytes of that tar stream: the <c>io.containers.estargz.uncompressed-size</c> annotation.</param>
/// <param name="CompressedSize">Bytes written: the layer descriptor's size.</param>
/// <param name="BlobDigest">sha256 of the bytes written: the layer descriptor's digest.</param>
/// <param name="Toc">The TOC written into the blob.</param>
public sealed record EstargzBuildResult(
    Digest TocDigest,
    Digest DiffId,
    long UncompressedSize,
    long CompressedSize,
    Digest BlobDigest,
    Toc Toc)
{
    /// <summary>How the blob is framed: eStargz (gzip) or zstd:chunked.</summary>
    public EstargzFormat Format { get; init; } = EstargzFormat.Estargz;

    /// <summary>Where a zstd:chunked blob keeps its TOC (for the containers/storage annotations); null for eStargz.</summary>
    public ZstdChunkedToc? ZstdChunkedToc { get; init; }

    /// <summary>What a snapshotter's prefetch of the layer fetches: the <see cref="PrefetchHint.Annotation"/> value, when not empty.</summary>
    public IReadOnlyList<BlobSpan> PrefetchSpans { get; init; } = [];

    /// <summary>Where the TOC member begins (for zstd:chunked, its skippable frame), as readers see it: the <see cref="TocOffsetHint.Annotation"/> value.</summary>
    public long TocOffset { get; init; }
}

/// <summary>The compressed TOC of a zstd:chunked blob, as its layer annotations describe it.</summary>
/// <param name="Offset">Blob offset of the compressed TOC (past its skippable-frame header).</param>
/// <param name="CompressedLength">Bytes of the compressed TOC.</param>
/// <param name="UncompressedLength">Bytes of the TOC JSON.</param>
/// <param name="Checksum">sha256 of the compressed TOC: <see cref="EstargzConstants.ZstdChunkedManifestChecksumAnnotation"/>.</param>
public sealed record ZstdChunkedToc(long Offset, long CompressedLength, long UncompressedLength, Digest Checksum)
{
    /// <summary>The <see cref="EstargzConstants.ZstdChunkedManifestPositionAnnotation"/> value: <c>offset:compressed:uncompressed:1</c>.</summary>
    public string Position => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{Offset}:{CompressedLength}:{UncompressedLength}:{ZstdChunkedFooter.ManifestTypeCrfs}");
}
