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
    /// <summary>What a snapshotter's prefetch of the layer fetches: the <see cref="PrefetchHint.Annotation"/> value, when not empty.</summary>
    public IReadOnlyList<BlobSpan> PrefetchSpans { get; init; } = [];
}
