using Snapshotter.Fuse;
using Snapshotter.Fuse.Handover;

namespace Snapshotter.Fs;

/// <summary>How a layer is mounted.</summary>
public sealed record LayerMountOptions
{
    public static readonly LayerMountOptions Default = new();

    /// <summary>How long the kernel may cache names and attributes; the layer is immutable, so long.</summary>
    public TimeSpan AttributeTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Bytes of the private <see cref="MemoryChunkStore"/> used when neither <see cref="Cache"/> nor <see cref="ChunkStore"/> is set.</summary>
    public long RecentChunkBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>The daemon's chunk cache, shared by its layers (each mount holds a lease on its layer); first choice.</summary>
    public Cache.IChunkCache? Cache { get; init; }

    /// <summary>A chunk store for this layer when there is no <see cref="Cache"/>; null: a private <see cref="MemoryChunkStore"/>.</summary>
    public IChunkStore? ChunkStore { get; init; }

    public FetchOptions Fetch { get; init; } = FetchOptions.Default;

    public PrefetchOptions Prefetch { get; init; } = PrefetchOptions.Default;

    /// <summary>Fetches the rest of the layer after its prefetch (shared by the daemon's layers); null: only what is read.</summary>
    public BackgroundFetcher? Background { get; init; }

    /// <summary>
    /// When set, files are written out verified to a per-mount directory under this one after their
    /// first open and later opens are served by FUSE passthrough (kernel 6.9+); null reads everything
    /// through user space. The mount's directory is deleted when it is unmounted.
    /// </summary>
    public string? PassthroughDirectory { get; init; }

    /// <summary>Bytes all layers' passthrough files may take together (shared); null: unbounded.</summary>
    public PassthroughBudget? PassthroughBudget { get; init; }

    /// <summary>The xattr that marks an opaque directory: <c>trusted.overlay.opaque</c>, or <c>user.overlay.opaque</c> for overlay's userxattr mode.</summary>
    public string OpaqueXattr { get; init; } = "trusted.overlay.opaque";

    /// <summary>
    /// Readahead of the mount's backing device (/sys/class/bdi/&lt;dev&gt;/read_ahead_kb), in KiB,
    /// once the layer is fully local; null keeps the kernel's. Larger readahead makes the kernel
    /// send 1 MiB READs and fill the page cache in larger folios, which is what warm reads are served from.
    /// </summary>
    public int? ReadAheadKiB { get; init; } = 4096;

    /// <summary>
    /// Readahead while the layer still has chunks to fetch; null: <see cref="ReadAheadKiB"/> from the
    /// start. A page fault reads a whole readahead window, so 4 MiB would fetch (and `estargz optimize`
    /// would record, and prefetch) up to 4 MiB around every touched page of a library; 128 KiB is the
    /// kernel's usual window. Files opened after the layer is complete get <see cref="ReadAheadKiB"/>.
    /// </summary>
    public int? LazyReadAheadKiB { get; init; } = 128;

    /// <summary>
    /// Keeps each mount's FUSE connection outside this process, so that a mount outlives it (a
    /// crash, an upgrade) and the next process resumes serving it; null: the connection ends with
    /// the process.
    /// </summary>
    public FuseHandover? Handover { get; init; }

    public FuseMountOptions Mount { get; init; } = new();

    public FuseServerOptions Server { get; init; } = new();

    /// <summary>How long mounting waits for the kernel's INIT.</summary>
    public TimeSpan InitTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
