namespace Snapshotter.Benchmark.Model;

/// <summary>
/// How an image gets onto the node: a full pull unpacked by containerd's overlayfs snapshotter, or
/// a lazy pull through our snapshotter. <see cref="PullCommand"/> is a template (see <see cref="CommandTemplate"/>).
/// </summary>
internal sealed record PullMode(string Name, string Snapshotter, string PullCommand)
{
    public const string OverlayfsName = "overlayfs";
    public const string LazyName = "lazy";

    public const string DefaultOverlayfsPull = "ctr --address {address} images pull --hosts-dir {hosts} --snapshotter {snapshotter} {ref}";
    public const string DefaultLazyPull = "ctr-remote --address {address} images rpull --hosts-dir {hosts} --snapshotter {snapshotter} {ref}";

    public bool IsLazy => Name == LazyName;

    public static PullMode Overlayfs(string pullCommand = DefaultOverlayfsPull) => new(OverlayfsName, "overlayfs", pullCommand);

    /// <summary>Our daemon, registered with containerd as the proxy snapshotter <c>stargz</c>.</summary>
    public static PullMode Lazy(string pullCommand = DefaultLazyPull) => new(LazyName, "stargz", pullCommand);

    public string ReferenceOf(ImageSpec image) => IsLazy ? image.LazyRef : image.PlainRef;
}
