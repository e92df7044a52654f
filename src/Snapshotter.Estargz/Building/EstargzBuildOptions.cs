namespace Snapshotter.Estargz;

/// <summary>How <see cref="EstargzBuilder"/> lays out a layer; the defaults match the Go converter.</summary>
public sealed record EstargzBuildOptions
{
    public static readonly EstargzBuildOptions Default = new();

    /// <summary>The largest <see cref="PrefetchGroupSize"/>: a reader inflates a whole member into memory.</summary>
    public const int MaxPrefetchGroupSize = 16 * 1024 * 1024;

    /// <summary>Largest payload of one gzip member; larger files are split into chunks of this size.</summary>
    public int ChunkSize { get; init; } = EstargzConstants.DefaultChunkSize;

    /// <summary>
    /// When above zero, files smaller than this share a gzip member (told apart by
    /// <c>innerOffset</c>) until the member holds at least this many payload bytes: fewer, better
    /// compressed members for layers of many small files, at the price of inflating a little more per read.
    /// </summary>
    public int MinChunkSize { get; init; }

    /// <summary>
    /// <see cref="EstargzFormat.Estargz"/> (gzip members, the default) or
    /// <see cref="EstargzFormat.ZstdChunked"/> (zstd frames, as <c>ctr-remote image convert --zstdchunked</c> writes).
    /// </summary>
    public EstargzFormat Format { get; init; } = EstargzFormat.Estargz;

    /// <summary>zlib level 0–9 for gzip (9, best compression, is what the Go converter uses); zstd level 1–22 for zstd:chunked.</summary>
    public int CompressionLevel { get; init; } = 9;

    /// <summary>
    /// When above zero, the chunks a snapshotter's prefetch takes (prioritized files before the
    /// landmark, or only the chunks of them marked <c>prefetch</c>) share members of up to this many
    /// uncompressed bytes instead of one member each: the prefetch fetches them all anyway, and one
    /// larger member compresses much better with zstd (its window spans the files). A read of one of
    /// them inflates its whole member. Like <see cref="MinChunkSize"/> it relies on <c>innerOffset</c>,
    /// which stargz-snapshotter reads from v0.13.
    /// </summary>
    public int PrefetchGroupSize { get; init; }

    /// <summary>Files to put first, in this order (the order the workload touches them), followed by <c>.prefetch.landmark</c>.</summary>
    public IReadOnlyList<string> PrioritizedFiles { get; init; } = [];

    /// <summary>
    /// The byte ranges of each file that the recorded workload read (layer paths, as in
    /// <see cref="PrioritizedFiles"/>), or null when the record has none (a plain list, or
    /// ctr-remote's). When set, a prioritized regular file that was not read stays where it is (the
    /// workload only looked it up), and a read one is cut into chunks at the edges of its ranges, the
    /// chunks holding read bytes marked <c>prefetch</c> in the TOC (docs/estargz.md).
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<FileRange>>? PrioritizedReads { get; init; }

    /// <summary>Skip prioritized files the layer does not contain instead of failing.</summary>
    public bool AllowPrioritizedNotFound { get; init; }

    /// <summary>How many members are compressed at once; output order and bytes do not depend on it.</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Where a compressed or unseekable input is spooled while converting; the system temp directory by default.</summary>
    public string? TempDirectory { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1, nameof(ChunkSize));
        ArgumentOutOfRangeException.ThrowIfNegative(MinChunkSize, nameof(MinChunkSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MinChunkSize, ChunkSize, nameof(MinChunkSize));
        if (Format is not (EstargzFormat.Estargz or EstargzFormat.ZstdChunked))
        {
            throw new ArgumentOutOfRangeException(nameof(Format), Format, "only eStargz and zstd:chunked layers are written");
        }
        var (minLevel, maxLevel) = Format == EstargzFormat.ZstdChunked ? (1, 22) : (0, 9);
        ArgumentOutOfRangeException.ThrowIfLessThan(CompressionLevel, minLevel, nameof(CompressionLevel));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(CompressionLevel, maxLevel, nameof(CompressionLevel));
        ArgumentOutOfRangeException.ThrowIfNegative(PrefetchGroupSize, nameof(PrefetchGroupSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PrefetchGroupSize, MaxPrefetchGroupSize, nameof(PrefetchGroupSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(Parallelism, 1, nameof(Parallelism));
        ArgumentNullException.ThrowIfNull(PrioritizedFiles, nameof(PrioritizedFiles));
    }
}
