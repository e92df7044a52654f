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

    [LoggerMessage(106, LogLevel.Information, "Warm-up pull from a loopback registry done: {Bytes} bytes prefetched and verified in {Milliseconds:F0} ms")]
    public static partial void WarmedUp(ILogger logger, long bytes, double milliseconds);

    [LoggerMessage(107, LogLevel.Warning, "Warm-up pull from a loopback registry failed after {Milliseconds:F0} ms; serving anyway (the first pull pays the cold start)")]
    public static partial void WarmUpFailed(ILogger logger, double milliseconds, Exception exception);

    [LoggerMessage(108, LogLevel.Information, "Warm-up calls of the snapshots API done in {Milliseconds:F0} ms")]
    public static partial void ServiceWarmedUp(ILogger logger, double milliseconds);

    [LoggerMessage(109, LogLevel.Warning, "Warm-up calls of the snapshots API failed after {Milliseconds:F0} ms; serving anyway")]
    public static partial void ServiceWarmUpFailed(ILogger logger, double milliseconds, Exception exception);
}
