namespace Snapshotter.Benchmark.Model;

/// <summary>
/// How an image gets onto the node: a full pull of the plain image unpacked by containerd's
/// overlayfs snapshotter, or a lazy pull through our snapshotter of its eStargz conversion
/// (<c>lazy</c>) or of its conversion optimized for the workload (<c>lazy-optimized</c>, files read
/// at start first, prefetched). <see cref="PullCommand"/> is a template (see <see cref="CommandTemplate"/>).
/// </summary>
internal sealed record PullMode(string Name, string Snapshotter, string PullCommand)
{
    public const string OverlayfsName = "overlayfs";
    public const string LazyName = "lazy";
    public const string LazyOptimizedName = "lazy-optimized";

    public const string DefaultOverlayfsPull = "ctr --address {address} images pull --hosts-dir {hosts} --snapshotter {snapshotter} {ref}";
    public const string DefaultLazyPull = "ctr-remote --address {address} images rpull --hosts-dir {hosts} --snapshotter {snapshotter} {ref}";

    public bool IsLazy => Name != OverlayfsName;

    public static PullMode Overlayfs(string pullCommand = DefaultOverlayfsPull) => new(OverlayfsName, "overlayfs", pullCommand);

    /// <summary>Our daemon, registered with containerd as the proxy snapshotter <c>stargz</c>.</summary>
    public static PullMode Lazy(string pullCommand = DefaultLazyPull) => new(LazyName, "stargz", pullCommand);

    public static PullMode LazyOptimized(string pullCommand = DefaultLazyPull) => new(LazyOptimizedName, "stargz", pullCommand);

    /// <summary>The image this mode pulls, or null when the spec has none for it (an optimized image is optional).</summary>
    public string? ReferenceOf(ImageSpec image) => Name switch
    {
        OverlayfsName => image.PlainRef,
        LazyName => image.LazyRef,
        _ => image.OptimizedRef,
    };
}
