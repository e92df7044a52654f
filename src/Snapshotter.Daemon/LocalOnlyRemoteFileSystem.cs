using Snapshotter.Snapshots;

namespace Snapshotter.Daemon;

/// <summary>
/// The <see cref="IRemoteFileSystem"/> of a daemon without a lazy layer filesystem: it claims no
/// layer, so containerd falls back to its normal fetch-and-apply for every layer. Remote snapshots
/// left by an earlier daemon that had one cannot be served, so their checks fail (Unavailable).
/// </summary>
internal sealed class LocalOnlyRemoteFileSystem : IRemoteFileSystem
{
    private const string Reason = "no lazy layer filesystem is configured in this daemon";

    public LocalOnlyRemoteFileSystem(ILogger<LocalOnlyRemoteFileSystem> logger)
    {
        DaemonLog.NoLazyFileSystem(logger);
    }

    public Task MountAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        Task.FromException(new RemoteLayerException(Reason));

    public Task CheckAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        Task.FromException(new RemoteLayerException(Reason));

    // Nothing was mounted by this filesystem; the snapshotter detaches strays itself before deleting.
    public Task UnmountAsync(string mountpoint, CancellationToken cancellationToken) => Task.CompletedTask;
}
