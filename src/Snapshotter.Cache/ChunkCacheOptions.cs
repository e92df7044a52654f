namespace Snapshotter.Cache;

/// <summary>
/// Where the chunk cache lives and the knobs of its GC policy. Sizes are bytes, percentages are
/// 0–100 of the stated whole. The daemon binds and validates these from its configuration.
/// </summary>
public sealed record ChunkCacheOptions
{
    public const long DefaultMaxBytes = 10L * 1024 * 1024 * 1024;
    public const double DefaultLowWatermarkPercent = 90;
    public const double DefaultMinFreePercent = 10;
    public const long DefaultMemoryBytes = 256L * 1024 * 1024;
    public static readonly TimeSpan DefaultGcInterval = TimeSpan.FromMinutes(5);

    /// <summary>The cache's own directory (created if missing). Several processes may open it at once.</summary>
    public required string Root { get; init; }

    /// <summary>
    /// Budget for all disk entries together, in bytes (10 GiB). Counted in filesystem blocks, like
    /// <c>du</c>, so many small chunks are not under-counted. A chunk larger than this is not cached.
    /// </summary>
    public long MaxBytes { get; init; } = DefaultMaxBytes;

    /// <summary>
    /// When the budget is exceeded the GC evicts down to this percentage of <see cref="MaxBytes"/>
    /// (90), so that the next puts do not each pay for an eviction run.
    /// </summary>
    public double LowWatermarkPercent { get; init; } = DefaultLowWatermarkPercent;

    /// <summary>Free space to leave on the cache's filesystem, in bytes (0); the larger of this and <see cref="MinFreePercent"/> applies.</summary>
    public long MinFreeBytes { get; init; }

    /// <summary>
    /// Free space to leave on the cache's filesystem, in percent of its size (10). The cache yields
    /// to everything else on the disk: below the floor it evicts, and stops caching if that is not enough.
    /// </summary>
    public double MinFreePercent { get; init; } = DefaultMinFreePercent;

    /// <summary>Bytes of hot chunks the memory tier holds (256 MiB); 0 turns the memory tier off.</summary>
    public long MemoryBytes { get; init; } = DefaultMemoryBytes;

    /// <summary>How often <see cref="ChunkCache.RunPeriodicCollectionAsync"/> runs the GC (5 minutes).</summary>
    public TimeSpan GcInterval { get; init; } = DefaultGcInterval;

    /// <summary>
    /// fsync every entry before it is renamed into place (false). A kill -9 loses nothing that was
    /// written, so this only matters for power loss; without it a torn entry may survive a power
    /// loss, and is then found by verification and refetched. Costs a disk flush per put.
    /// </summary>
    public bool SyncWrites { get; init; }

    /// <summary>The budget the GC evicts down to once <see cref="MaxBytes"/> is exceeded.</summary>
    internal long LowWatermarkBytes => (long)(MaxBytes * (LowWatermarkPercent / 100));

    /// <summary>Throws <see cref="ArgumentException"/> when a knob is out of range.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Root);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(MinFreeBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(MemoryBytes);
        RequirePercent(LowWatermarkPercent, nameof(LowWatermarkPercent));
        RequirePercent(MinFreePercent, nameof(MinFreePercent));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(GcInterval, TimeSpan.Zero, nameof(GcInterval));
    }

    private static void RequirePercent(double value, string name)
    {
        if (!(value >= 0 && value <= 100))
        {
            throw new ArgumentOutOfRangeException(name, value, "a percentage is between 0 and 100");
        }
    }
}
