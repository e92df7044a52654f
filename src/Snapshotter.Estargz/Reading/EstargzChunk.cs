using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>
/// One verified-on-read piece of a regular file: <see cref="Size"/> bytes at
/// <see cref="FileOffset"/> in the file, stored in the gzip member at <see cref="CompressedOffset"/>
/// (starting <see cref="InnerOffset"/> bytes into its uncompressed stream). Fetching
/// [<see cref="CompressedOffset"/>, +<see cref="CompressedLength"/>) from the blob gives all the
/// compressed bytes <see cref="EstargzReader.ReadChunk"/> needs. <see cref="Prefetch"/>: the TOC
/// marks it as read by the recorded workload (<see cref="TocEntry.Prefetch"/>).
/// </summary>
public readonly record struct EstargzChunk(
    long FileOffset,
    long Size,
    long CompressedOffset,
    long CompressedLength,
    long InnerOffset,
    Digest Digest,
    bool Prefetch = false)
{
    /// <summary>The end of this chunk in the file (exclusive).</summary>
    public long FileEnd => FileOffset + Size;
}
