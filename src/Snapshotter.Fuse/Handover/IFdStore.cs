namespace Snapshotter.Fuse.Handover;

/// <summary>
/// Keeps duplicates of file descriptors outside this process, so that they survive it (a crash,
/// SIGKILL or an upgrade) and come back to the next process. FUSE connections live as long as one
/// descriptor of them is open anywhere: a store keeps mounted layers served across restarts.
/// </summary>
/// <remarks>
/// Implementations: <see cref="SystemdFdStore"/> (systemd's per-service fd store, sd_notify
/// FDSTORE=1) and <see cref="FdHolderStore"/> (our own holder process on a unix socket).
/// A store drops a descriptor by itself when it reports POLLERR/POLLHUP (a FUSE connection that
/// ended). Names are printable ASCII without ':' and at most 255 bytes.
/// </remarks>
public interface IFdStore : IDisposable
{
    /// <summary>What the store handed back when this process started: name → descriptors (close-on-exec).</summary>
    IReadOnlyDictionary<string, IReadOnlyList<int>> Inherited { get; }

    /// <summary>
    /// Stores duplicates of <paramref name="descriptors"/> under <paramref name="name"/>. Call it again
    /// with every descriptor still wanted under the name (a store may drop those not named again, or
    /// keep them). The caller keeps its own descriptors. Throws <see cref="IOException"/> if the store
    /// cannot be reached.
    /// </summary>
    void Store(string name, IReadOnlyList<int> descriptors);

    /// <summary>Closes the store's descriptors under <paramref name="name"/>; unknown names are ignored.</summary>
    void Remove(string name);
}
