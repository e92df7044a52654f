using Snapshotter.Estargz;
using Snapshotter.Fs;
using Snapshotter.Oci;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// Starts a layer's prefetch from its descriptor's prefetch hint (<see cref="PrefetchHint"/>), before
/// its footer and TOC have arrived: on a new connection a TOC of a few hundred KB takes several
/// round trips, while the link could already carry the first files.
/// </summary>
internal static class EarlyPrefetch
{
    /// <summary>
    /// The blob the layer's chunks are read through: one that fetches the hinted ranges from now on
    /// when the descriptor has a usable hint and prefetch is on, or all of a small layer's file data;
    /// otherwise <paramref name="blob"/>.
    /// It keeps to one request while any of <paramref name="tocReads"/> is on its way, and starts none
    /// while a critical one (a tail a waiting mount needs) is.
    /// </summary>
    public static IBlob Start(RegistryLayerBlob blob, Descriptor layer, LayerMountOptions options, TocReads tocReads, ILogger logger)
    {
        if (!options.Prefetch.Enabled || options.Prefetch.HintMaxBytes <= 0)
        {
            return blob;
        }
        // A small layer is prefetched whole (PrefetchOptions.WholeLayerMaxBytes): when its descriptor
        // says where its TOC begins, all its file data comes beside the TOC, hint or not.
        if (TocOffsetHint.ParseOffset(layer.Annotation(TocOffsetHint.Annotation), blob.Size) is { } tocOffset
            && tocOffset <= options.Prefetch.WholeLayerMaxBytes)
        {
            return new EarlyPrefetchBlob(blob, [new BlobSpan(0, tocOffset)], options.Fetch, options.Prefetch.HintMaxBytes, logger, tocReads);
        }
        if (layer.Annotation(PrefetchHint.Annotation) is { } text)
        {
            if (PrefetchHint.TryParse(text, blob.Size, out var spans))
            {
                return new EarlyPrefetchBlob(blob, spans, options.Fetch, options.Prefetch.HintMaxBytes, logger, tocReads);
            }
            RemoteLog.PrefetchHintIgnored(logger, layer.Digest.ToString());
        }
        return blob;
    }

    /// <summary>Lets go of what was fetched early once the prefetch that reads it is over.</summary>
    public static void ReleaseAfter(IBlob chunks, Task prefetch)
    {
        if (chunks is EarlyPrefetchBlob early)
        {
            prefetch.ContinueWith(_ => early.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Stops the early fetch of a layer that will not be mounted from it.</summary>
    public static void Release(IBlob chunks) => (chunks as EarlyPrefetchBlob)?.Dispose();
}

internal static partial class RemoteLog
{
    [LoggerMessage(209, LogLevel.Debug, "Layer {Layer}: its prefetch hint annotation is not a list of ascending ranges inside the blob; ignored")]
    public static partial void PrefetchHintIgnored(ILogger logger, string layer);
}
