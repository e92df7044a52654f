using System.Diagnostics;
using Snapshotter.Fs;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// <c>[prefetch] pull_wait_seconds</c>: the lazy Prepare of an image's top layer, the last step of
/// its pull, holds the pull until the prefetch of every layer of the image is local. The container
/// then starts from local files instead of beside their arrival; the pull takes that much longer.
/// </summary>
internal static class PullWait
{
    /// <summary>
    /// Whether the Prepare labels make this layer its image's top one: ctr-remote's and CRI's layer
    /// lists run from the layer being prepared up, so the top layer's lists only itself.
    /// </summary>
    public static bool IsImageTop(IReadOnlyDictionary<string, string> labels, string layerDigest)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var layers = labels.TryGetValue(EstargzRemoteFileSystem.StargzLayersLabel, out var stargz) ? stargz
            : labels.TryGetValue(EstargzRemoteFileSystem.CriLayersLabel, out var cri) ? cri : null;
        return layers is not null && layers.Trim() == layerDigest;
    }

    /// <summary>Waits, at most <paramref name="limit"/>, for every prefetch of <paramref name="prefetches"/> (tasks that never fault).</summary>
    public static async Task WaitAsync(string layerDigest, IReadOnlyList<Task> prefetches, TimeSpan limit, ILogger logger, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await Task.WhenAll(prefetches).WaitAsync(limit, cancellationToken).ConfigureAwait(false);
            var waited = Stopwatch.GetElapsedTime(started);
            FsMetrics.PullWaited(waited.TotalSeconds, timedOut: false);
            RemoteLog.PullWaited(logger, layerDigest, prefetches.Count, waited.TotalMilliseconds);
        }
        catch (TimeoutException)
        {
            FsMetrics.PullWaited(Stopwatch.GetElapsedTime(started).TotalSeconds, timedOut: true);
            RemoteLog.PullWaitTimedOut(logger, layerDigest, prefetches.Count, limit.TotalSeconds);
        }
    }
}

internal static partial class RemoteLog
{
    [LoggerMessage(214, LogLevel.Information, "Pull of the image topped by layer {Layer} waited {WaitedMs:F0} ms for the prefetch of its {Layers} lazy layer(s)")]
    public static partial void PullWaited(ILogger logger, string layer, int layers, double waitedMs);

    [LoggerMessage(215, LogLevel.Warning, "Pull of the image topped by layer {Layer}: the prefetch of its {Layers} lazy layer(s) is not done after {Seconds} s; the pull ends without it")]
    public static partial void PullWaitTimedOut(ILogger logger, string layer, int layers, double seconds);
}
