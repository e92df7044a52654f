using Snapshotter.Snapshots;

namespace Snapshotter.Daemon;

internal static partial class DaemonLog
{
    [LoggerMessage(100, LogLevel.Debug, "{Method} refused: {Error}: {Message}")]
    public static partial void CallRefused(ILogger logger, string method, SnapshotError error, string message);

    [LoggerMessage(101, LogLevel.Error, "{Method} failed")]
    public static partial void CallFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(102, LogLevel.Information, "Serving containerd snapshots API on {Address} (root {Root})")]
    public static partial void Serving(ILogger logger, string address, string root);

    [LoggerMessage(103, LogLevel.Information, "Removed stale socket {Address}")]
    public static partial void RemovedStaleSocket(ILogger logger, string address);

    [LoggerMessage(104, LogLevel.Information, "Stopped; socket {Address} removed")]
    public static partial void Stopped(ILogger logger, string address);

    [LoggerMessage(105, LogLevel.Warning, "Telling systemd '{State}' failed")]
    public static partial void NotifyFailed(ILogger logger, string state, Exception exception);
}
