namespace Snapshotter.Estargz;

/// <summary>Limits that bound what a hostile blob can make the reader allocate or decompress.</summary>
public sealed record EstargzReaderOptions
{
    public static readonly EstargzReaderOptions Default = new();

    /// <summary>
    /// Bytes read from the end of the blob in the first read, besides the footer, in the hope
    /// that the whole TOC member is among them (then opening takes a single ranged read; else a
    /// second one reads the front of the TOC the first missed). 512 KiB holds the TOC of a layer of
    /// about 9,000 files; more costs every layer the transfer of bytes it does not need, and the
    /// layers of one image open at once, on one link (docs/benchmarks.md, "Readiness, fourth round").
    /// </summary>
    public int TailReadSize { get; init; } = 512 * 1024;

    /// <summary>Largest TOC accepted, compressed or uncompressed; a 40,000-entry TOC is about 15 MiB.</summary>
    public int MaxTocSize { get; init; } = 256 * 1024 * 1024;

    /// <summary>
    /// These options with a first read of the blob from <paramref name="offset"/> to its end (no
    /// shorter than the largest footer): where a TOC is known to begin, or the tail an earlier
    /// opening read. The caller checks that the offset lies inside the blob.
    /// </summary>
    public EstargzReaderOptions FirstReadFrom(long offset, long blobSize) =>
        this with { TailReadSize = (int)Math.Clamp(blobSize - offset - LayerCompression.MaxFooterSize, 0, int.MaxValue) };
}
