namespace Snapshotter.Estargz;

/// <summary>Limits that bound what a hostile blob can make the reader allocate or decompress.</summary>
public sealed record EstargzReaderOptions
{
    public static readonly EstargzReaderOptions Default = new();

    /// <summary>
    /// Bytes read from the end of the blob in the first read, besides the footer, in the hope
    /// that the whole TOC member is among them (then opening takes a single ranged read).
    /// </summary>
    public int TailReadSize { get; init; } = 2 * 1024 * 1024;

    /// <summary>Largest TOC accepted, compressed or uncompressed; a 40,000-entry TOC is about 15 MiB.</summary>
    public int MaxTocSize { get; init; } = 256 * 1024 * 1024;
}
