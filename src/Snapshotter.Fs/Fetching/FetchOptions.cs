namespace Snapshotter.Fs;

/// <summary>How a layer's chunks are fetched from its blob.</summary>
public sealed record FetchOptions
{
    public static readonly FetchOptions Default = new();

    /// <summary>
    /// The most compressed bytes fetched after a missed chunk, in blob order, in a second request
    /// beside the missed chunk's own: what follows a file in the blob is likely read next (prioritized
    /// images put first-accessed files first), so one round trip serves several later reads. The
    /// window adapts below it (<see cref="ReadAheadStartBytes"/>). 0 disables read-ahead.
    /// </summary>
    public long ReadAheadBytes { get; init; } = 2L * 1024 * 1024;

    /// <summary>
    /// The read-ahead window a layer starts with, adapted to its reads up to <see cref="ReadAheadBytes"/>
    /// (<see cref="Fetching.ReadAheadWindow"/>). 0: no adaptation, every miss reads <see cref="ReadAheadBytes"/> ahead.
    /// </summary>
    public long ReadAheadStartBytes { get; init; } = 256 * 1024;

    /// <summary>The largest Range request prefetch sends (neighbouring members merged up to it); background fetch has its own.</summary>
    public long MaxRequestBytes { get; init; } = 2L * 1024 * 1024;

    /// <summary>Requests one layer's prefetch keeps in flight.</summary>
    public int PrefetchRequests { get; init; } = 4;

    /// <summary>How long an on-demand fetch may take, registry retries included, before the read fails with EIO.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Whether prefetched and background-fetched chunks are decompressed, verified and stored on
    /// threads under SCHED_IDLE (<see cref="IdleCpu"/>), so that containers, the daemon's own
    /// on-demand reads and its gRPC calls come first; a layer's prefetch runs at normal priority
    /// while a container's read waits for one of its chunks.
    /// </summary>
    public bool IdlePriority { get; init; } = true;

    internal void Validate()
    {
        if (ReadAheadBytes < 0 || ReadAheadStartBytes < 0 || MaxRequestBytes < 1 || PrefetchRequests < 1 || Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("fetch options: read-ahead >= 0, request size >= 1, prefetch requests >= 1, timeout > 0");
        }
    }
}

/// <summary>What a mount fetches before the container starts (the region before <c>.prefetch.landmark</c>).</summary>
public sealed record PrefetchOptions
{
    public static readonly PrefetchOptions Default = new();

    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Compressed bytes from the start of a layer prefetched when it has no landmark (0: none). A layer
    /// with <c>.prefetch.landmark</c> prefetches what lies before it; one with <c>.no.prefetch.landmark</c> nothing.
    /// </summary>
    public long SizeWithoutLandmark { get; init; }

    /// <summary>
    /// A layer whose file data (its compressed bytes before the TOC) is at most this many bytes is
    /// prefetched whole, whatever its landmarks say: one request at the mount costs less than the
    /// round trip a read of it would wait for later. An image's top layer often holds a few small
    /// files (configuration, a page, a script) that its start does not read but its first request
    /// does. 0: no layer is.
    /// </summary>
    public long WholeLayerMaxBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// How long a container start (the Check of its layers) waits for their prefetch. Zero: it does
    /// not wait, and the container's first reads join the prefetch requests already in flight.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long the lazy Prepare of an image's top layer (the last step of its pull) waits for the
    /// prefetch of all the image's layers, so that the pull ends with the prefetched files local and
    /// the container's start does not share the link and the cores with their arrival. Zero: the pull
    /// does not wait.
    /// </summary>
    public TimeSpan PullWait { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Compressed bytes of a layer's prefetch hint (<c>containerd.io/snapshot/stargz-dotnet/prefetch-ranges</c>,
    /// written by <c>estargz optimize</c>) fetched into memory while its footer and TOC are still on
    /// their way (<see cref="EarlyPrefetchBlob"/>); the prefetch then reads them from there. 0: hints are ignored.
    /// </summary>
    public long HintMaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Whether the files the prefetch brings whole are also copied to local disk, to a directory
    /// overlayfs stacks above the mount (<see cref="LocalCopies"/>), so that the kernel serves them
    /// without FUSE round trips.
    /// </summary>
    public bool LocalCopies { get; init; } = true;

    /// <summary>
    /// Whether the prefetched pages of each file the kernel looks up or reads through the mount are
    /// put into its page cache at once (<see cref="PageCacheFill"/>), so that reads and page faults
    /// there need no READ round trip.
    /// </summary>
    public bool FillPageCache { get; init; } = true;
}
