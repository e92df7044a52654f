namespace Snapshotter.Snapshots;

/// <summary>
/// The seam between snapshot semantics and lazily pulled layers (protocols.md §4.5). The snapshotter
/// owns the directories; an implementation owns what is mounted on them.
/// </summary>
/// <remarks>
/// Contract:
/// <list type="bullet">
/// <item><see cref="MountAsync"/>: <paramref name="mountpoint"/> is an existing, empty directory
/// (<c>&lt;root&gt;/snapshots/&lt;id&gt;/fs</c>). On return the layer's read-only contents are visible
/// there. <c>labels</c> are the Prepare labels (<c>containerd.io/snapshot.ref</c> plus the
/// <c>containerd.io/snapshot/remote/stargz.*</c> or <c>containerd.io/snapshot/cri.*</c> family; after a
/// restart, the labels stored with the committed snapshot). Throw (any exception, ideally
/// <see cref="RemoteLayerException"/> with the reason) when the layer cannot be served lazily: the
/// snapshotter then falls back to a normal pull. A failed mount must leave nothing mounted.</item>
/// <item><see cref="CheckAsync"/>: called for every remote ancestor before a container rootfs is handed
/// out; throw if the layer is broken (registry unreachable after a refresh attempt, FUSE server gone).
/// The snapshotter answers Unavailable.</item>
/// <item><see cref="PreparedAsync"/>: called once a layer's remote Prepare has mounted and committed it,
/// before containerd hears of it, with the mountpoints of its remote ancestors; the implementation may
/// hold the pull there (for instance until the image's prefetched files are local). It must not throw
/// unless cancelled: the layer is already committed.</item>
/// <item><see cref="UnmountAsync"/>: detach whatever <see cref="MountAsync"/> mounted at
/// <paramref name="mountpoint"/> and release the layer; a mountpoint with nothing mounted is not an error.</item>
/// <item><see cref="WritesLocalCopies"/>: when true, the snapshotter creates
/// <c>&lt;root&gt;/snapshots/&lt;id&gt;/local</c> (<see cref="LocalCopiesOf"/>) before
/// <see cref="MountAsync"/> and stacks it right above <c>fs</c> in every overlay mount. The
/// implementation may put there whole copies of the layer's own files and directories, with the
/// layer's metadata, each appearing at once (renamed into place) and never changed after: overlayfs
/// then serves them without going to <c>fs</c>. Anything else there would change the container's view.</item>
/// <item><see cref="KeptMountPoints"/>: mounts a previous process left mounted with their connection
/// kept for this one (a restart without breaking running containers). The snapshotter does not
/// detach them at restore; <see cref="MountAsync"/> with their stored labels resumes serving them,
/// and <see cref="ReleaseUnclaimed"/>, called once restore is done, unmounts those nobody asked for.</item>
/// </list>
/// Calls for different mountpoints may run concurrently.
/// </remarks>
public interface IRemoteFileSystem
{
    Task MountAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    Task CheckAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    Task UnmountAsync(string mountpoint, CancellationToken cancellationToken);

    Task PreparedAsync(string mountpoint, IReadOnlyList<string> remoteAncestors, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    IReadOnlyCollection<string> KeptMountPoints => [];

    bool WritesLocalCopies => false;

    /// <summary>The local copies directory beside a snapshot's <c>fs</c> mountpoint.</summary>
    static string LocalCopiesOf(string mountpoint) => Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(mountpoint))!, "local");

    void ReleaseUnclaimed()
    {
    }
}

/// <summary>Thrown by an <see cref="IRemoteFileSystem"/> that cannot mount or serve a layer; the message says why.</summary>
public sealed class RemoteLayerException : Exception
{
    public RemoteLayerException()
        : base("the remote layer is unavailable")
    {
    }

    public RemoteLayerException(string message)
        : base(message)
    {
    }

    public RemoteLayerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
