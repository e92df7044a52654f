using Microsoft.Extensions.Logging;

namespace Snapshotter.Snapshots;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Prepared remote snapshot {Target} for key {Key} (parent {Parent})")]
    public static partial void RemotePrepared(ILogger logger, string target, string key, string parent);

    [LoggerMessage(2, LogLevel.Warning, "Remote snapshot {Target} unavailable, falling back to a normal pull of key {Key}: {Reason}")]
    public static partial void RemoteFallback(ILogger logger, string target, string key, string reason);

    [LoggerMessage(3, LogLevel.Debug, "Remote snapshot {Target} unavailable again, normal pull of key {Key}: {Reason}")]
    public static partial void RemoteFallbackAgain(ILogger logger, string target, string key, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Remote layer of snapshot {Name} at {MountPoint} failed its check")]
    public static partial void CheckFailed(ILogger logger, string name, string mountPoint, Exception exception);

    [LoggerMessage(5, LogLevel.Information, "Detached {Count} leftover mounts under {Directory}")]
    public static partial void DetachedLeftovers(ILogger logger, int count, string directory);

    [LoggerMessage(6, LogLevel.Information, "Restored remote snapshot {Name} at {MountPoint}")]
    public static partial void Restored(ILogger logger, string name, string mountPoint);

    [LoggerMessage(7, LogLevel.Warning, "Could not restore remote snapshot {Name} at {MountPoint}; left empty (allow_invalid_mounts_on_restart)")]
    public static partial void RestoreFailedAllowed(ILogger logger, string name, string mountPoint, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "Unmounting remote layer at {MountPoint} failed")]
    public static partial void UnmountFailed(ILogger logger, string mountPoint, Exception exception);

    [LoggerMessage(9, LogLevel.Warning, "Could not detach {MountPoint} (errno {Errno}); its directory is kept for a later Cleanup")]
    public static partial void DetachFailed(ILogger logger, string mountPoint, int errno);

    [LoggerMessage(10, LogLevel.Information, "Cleanup removed directory {Directory}")]
    public static partial void CleanedUp(ILogger logger, string directory);

    [LoggerMessage(11, LogLevel.Warning, "Internal commit of remote snapshot {Target} failed; the remote layer is released")]
    public static partial void RemoteCommitFailed(ILogger logger, string target, Exception exception);

    [LoggerMessage(12, LogLevel.Debug, "{Operation} {Key}")]
    public static partial void Operation(ILogger logger, string operation, string key);
}
