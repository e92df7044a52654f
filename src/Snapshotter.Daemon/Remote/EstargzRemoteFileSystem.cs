using System.Collections.Concurrent;
using System.Diagnostics;
using Snapshotter.Estargz;
using Snapshotter.Fs;
using Snapshotter.Oci;
using Snapshotter.Registry;
using Snapshotter.Snapshots;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// The lazy layer filesystem: each remote layer is an eStargz blob read by ranges from its registry,
/// verified against the TOC digest from its labels and mounted read-only with FUSE
/// (<see cref="LayerMount"/>). Labels: either the <c>containerd.io/snapshot/remote/stargz.*</c> set
/// (ctr-remote rpull) or the <c>containerd.io/snapshot/cri.*</c> set, plus
/// <c>containerd.io/snapshot/stargz/toc.digest</c>, without which a layer is refused (protocols.md §4.4).
/// </summary>
internal sealed class EstargzRemoteFileSystem : IRemoteFileSystem, IDisposable
{
    public const string StargzReferenceLabel = "containerd.io/snapshot/remote/stargz.reference";
    public const string CriReferenceLabel = "containerd.io/snapshot/cri.image-ref";
    public const string StargzDigestLabel = "containerd.io/snapshot/remote/stargz.digest";
    public const string CriDigestLabel = "containerd.io/snapshot/cri.layer-digest";
    public const string TocDigestLabel = "containerd.io/snapshot/stargz/toc.digest";
    public const string StargzLayersLabel = "containerd.io/snapshot/remote/stargz.layers";
    public const string CriLayersLabel = "containerd.io/snapshot/cri.image-layers";
    public const string PrefetchSizeLabel = "containerd.io/snapshot/remote/stargz.prefetch";

    private readonly IRegistryClient _registry;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly LayerMountOptions _mountOptions;
    private readonly LayerTails? _tails;
    private readonly LayerPreOpener _preOpener;
    private readonly TocReads _tocReads = new();
    private static readonly TimeSpan ResolvedImageLifetime = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Layer> _mounts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CachedImage> _resolved = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = TimeProvider.System;

    /// <param name="registry">Where layers are read from.</param>
    /// <param name="loggerFactory">Logs.</param>
    /// <param name="mountOptions">How layers are mounted.</param>
    /// <param name="tails">Where the footer and TOC of mounted layers are kept for the next start; null: nowhere (each start asks the registry).</param>
    public EstargzRemoteFileSystem(IRegistryClient registry, ILoggerFactory loggerFactory, LayerMountOptions? mountOptions = null, LayerTails? tails = null)
    {
        _registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _loggerFactory = loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory));
        _logger = loggerFactory.CreateLogger<EstargzRemoteFileSystem>();
        _mountOptions = mountOptions ?? LayerMountOptions.Default;
        _tails = tails;
        _preOpener = new LayerPreOpener(
            registry,
            (blob, layer) => EarlyPrefetch.Start(blob, layer, _mountOptions, _tocReads, _logger),
            (reader, chunks) => LayerContent.Open(reader, chunks, _mountOptions, _loggerFactory),
            _tocReads,
            _logger);
    }

    /// <summary>Files the prefetch brings whole are copied beside each mount (<see cref="PrefetchOptions.LocalCopies"/>).</summary>
    public bool WritesLocalCopies => _mountOptions.Prefetch is { Enabled: true, LocalCopies: true };

    /// <summary>The mountpoints currently served.</summary>
    public ICollection<string> MountPoints => _mounts.Keys;

    /// <summary>The counters of the layer mounted at <paramref name="mountpoint"/>, or null.</summary>
    public LayerStatistics? StatisticsOf(string mountpoint) => _mounts.TryGetValue(mountpoint, out var layer) ? layer.Mount.Statistics : null;

    public async Task MountAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountpoint);
        ArgumentNullException.ThrowIfNull(labels);
        var (reference, layerDigest, tocDigest) = ParseLabels(labels);
        if (_mounts.ContainsKey(mountpoint))
        {
            throw new RemoteLayerException($"{mountpoint} is already mounted");
        }
        if (_tails?.TryLoad(layerDigest) is { } recorded)
        {
            var blob = OpenBlob(reference, layerDigest, recorded.Size);
            if (await TryOpenReaderAsync(blob, tocDigest, recorded, cancellationToken, options: RecordedOptions(recorded)).ConfigureAwait(false) is { } reader)
            {
                await MountReaderAsync(mountpoint, labels, reference, reader, blob, blob, cancellationToken).ConfigureAwait(false);
                return;
            }
            _tails.Delete(layerDigest);
        }

        if (await _preOpener.TakeAsync(layerDigest, tocDigest, cancellationToken).ConfigureAwait(false) is { } preOpened)
        {
            SaveTail(layerDigest, preOpened.Tail);
            // Built with the daemon's options. rpull's prefetch size label changes them only for a
            // layer without a landmark; one whose prefetch it changes is built again.
            if (preOpened.Content.PrefetchesAlike(OptionsFor(labels).Prefetch))
            {
                await MountContentAsync(mountpoint, reference, preOpened.Content, preOpened.Blob, cancellationToken).ConfigureAwait(false);
                return;
            }
            preOpened.Content.Dispose();
            await MountReaderAsync(mountpoint, labels, reference, preOpened.Reader, preOpened.Blob, preOpened.Blob, cancellationToken).ConfigureAwait(false);
            return;
        }

        var started = Stopwatch.GetTimestamp();
        // Critical from before the pre-opener starts the other layers' tails, which wait for it.
        using var critical = _tocReads.BeginCritical();
        // The manifest tells the layer's siblings (opened ahead) and, without hints in the labels, its size.
        var finding = FindAndPreOpenAsync(reference, layerDigest);
        var hinted = HintedDescriptor.FromLabels(labels, layerDigest);
        if (hinted is not null)
        {
            // Not awaited unless the hinted tail fails; a failure only means no layer is opened ahead.
            _ = finding.ContinueWith(t => RemoteLog.ManifestUnread(_logger, layerDigest.ToString(), t.Exception!.GetBaseException().Message),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        var descriptor = hinted ?? await LayerFromManifestAsync(finding, reference, layerDigest, cancellationToken).ConfigureAwait(false);
        var resolved = Stopwatch.GetTimestamp();
        EstargzReader opened;
        RegistryLayerBlob fetched;
        IBlob chunks;
        try
        {
            (opened, fetched, chunks) = await OpenFromRegistryAsync(descriptor).ConfigureAwait(false);
        }
        catch (RemoteLayerException e) when (hinted is not null)
        {
            // The labels' size did not place the tail: the manifest's descriptor decides.
            descriptor = await LayerFromManifestAsync(finding, reference, layerDigest, cancellationToken).ConfigureAwait(false);
            if (descriptor.Size == hinted.Size)
            {
                throw;
            }
            RemoteLog.HintedSizeWrong(_logger, layerDigest.ToString(), hinted.Size, descriptor.Size, e.Message);
            (opened, fetched, chunks) = await OpenFromRegistryAsync(descriptor).ConfigureAwait(false);
        }
        RemoteLog.Opened(_logger, layerDigest.ToString(), hinted is null ? Stopwatch.GetElapsedTime(started, resolved).TotalMilliseconds : 0,
            Stopwatch.GetElapsedTime(resolved).TotalMilliseconds);
        await MountReaderAsync(mountpoint, labels, reference, opened, fetched, chunks, cancellationToken).ConfigureAwait(false);

        // Its tail is the critical read, also when read again (the window ends once, when bytes are in).
        async Task<(EstargzReader, RegistryLayerBlob, IBlob)> OpenFromRegistryAsync(Descriptor layer)
        {
            var blob = new RegistryLayerBlob(_registry.OpenBlob(reference, layer));
            using (_tocReads.Begin())
            {
                // The hinted prefetch goes on the link once the footer and TOC are in (read through the plain blob).
                var early = EarlyPrefetch.Start(blob, layer, _mountOptions, _tocReads, _logger);
                try
                {
                    return ((await TryOpenReaderAsync(blob, tocDigest, null, cancellationToken, critical, TailOptions(layer)).ConfigureAwait(false))!, blob, early);
                }
                catch
                {
                    EarlyPrefetch.Release(early);
                    throw;
                }
            }
        }
    }

    /// <summary>
    /// Resolves the image's manifest (cached for its other layers) and starts opening the layer's
    /// siblings ahead of their mounts. Runs on its own even when the mount does not wait for it.
    /// </summary>
    private async Task<Descriptor> FindAndPreOpenAsync(ImageReference reference, Digest layerDigest)
    {
        var (descriptor, siblings) = await FindLayerAsync(reference, layerDigest, CancellationToken.None).ConfigureAwait(false);
        _preOpener.OpenAll(reference, siblings, digest => digest != layerDigest && !IsMounted(digest) && _tails?.Contains(digest) != true);
        return descriptor;
    }

    private static async Task<Descriptor> LayerFromManifestAsync(Task<Descriptor> finding, ImageReference reference, Digest layerDigest, CancellationToken cancellationToken)
    {
        try
        {
            return await finding.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RegistryException or HttpRequestException or IOException or FormatException or InvalidDataException)
        {
            throw new RemoteLayerException($"layer {layerDigest} of {reference}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Opens the layer's reader (footer and TOC, verified against <paramref name="tocDigest"/>), from
    /// <paramref name="recorded"/> where it has the bytes, and records what it read for the next
    /// start. Null when a recorded tail did not open (the caller goes to the registry); throws when
    /// the registry's bytes do not.
    /// </summary>
    /// <param name="criticalTail">Ended once the tail's bytes are in: a critical TOC read (<see cref="TocReads.BeginCritical"/>); null: not critical.</param>
    /// <param name="options">How the reader reads the tail (<see cref="TailOptions"/>); null: the defaults.</param>
    private async Task<EstargzReader?> TryOpenReaderAsync(RegistryLayerBlob blob, Digest tocDigest, RecordedTail? recorded, CancellationToken cancellationToken,
        IDisposable? criticalTail = null, EstargzReaderOptions? options = null)
    {
        var opening = new TailRecordingBlob(blob, recorded);
        EstargzReader reader;
        try
        {
            IBlobSource source = criticalTail is null ? opening : new CriticalTailBlob(opening, criticalTail);
            reader = await EstargzReader.OpenAsync(source, tocDigest, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (recorded is not null)
            {
                RemoteLog.RecordedTailUnusable(_logger, blob.Digest.ToString(), e.Message);
                return null;
            }
            throw new RemoteLayerException($"layer {blob.Digest} is not a verifiable eStargz blob: {e.Message}", e);
        }
        if (recorded is null)
        {
            SaveTail(blob.Digest, opening.Seal());
        }
        return reader;
    }

    /// <summary>Reader options whose first read is exactly the layer's footer and TOC when its descriptor says where the TOC begins (<see cref="TocOffsetHint"/>).</summary>
    internal static EstargzReaderOptions TailOptions(Descriptor layer) =>
        TocOffsetHint.ReaderOptions(layer.Annotation(TocOffsetHint.Annotation), layer.Size);

    /// <summary>
    /// Reader options whose first read is the recorded tail's last range, so that a restart opens
    /// the layer from the recording (without the registry) however the tail was read at first.
    /// </summary>
    private static EstargzReaderOptions RecordedOptions(RecordedTail tail)
    {
        foreach (var (offset, bytes) in tail.Ranges)
        {
            if (offset + bytes.Length == tail.Size)
            {
                return EstargzReaderOptions.Default.FirstReadFrom(offset, tail.Size);
            }
        }
        return EstargzReaderOptions.Default;
    }

    private void SaveTail(Digest layer, RecordedTail tail)
    {
        try
        {
            _tails?.Save(layer, tail);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            RemoteLog.RecordedTailNotSaved(_logger, layer.ToString(), e);
        }
    }

    private bool IsMounted(Digest layer) => _mounts.Values.Any(mounted => mounted.Mount.LayerDigest == layer);

    /// <param name="chunks">What chunks are read through: <paramref name="blob"/>, or its early prefetch (<see cref="EarlyPrefetch"/>), which this now owns.</param>
    private async Task MountReaderAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, ImageReference reference, EstargzReader reader,
        RegistryLayerBlob blob, IBlob chunks, CancellationToken cancellationToken)
    {
        LayerContent content;
        try
        {
            content = LayerContent.Open(reader, chunks, OptionsFor(labels), _loggerFactory);
        }
        catch
        {
            EarlyPrefetch.Release(chunks);
            throw;
        }
        // Started before the mount rather than after it: the link is busy a few round trips sooner.
        EarlyPrefetch.ReleaseAfter(chunks, content.StartPrefetch());
        await MountContentAsync(mountpoint, reference, content, blob, cancellationToken).ConfigureAwait(false);
    }

    private async Task MountContentAsync(string mountpoint, ImageReference reference, LayerContent content, RegistryLayerBlob blob, CancellationToken cancellationToken)
    {
        LayerMount mount;
        try
        {
            var localCopies = IRemoteFileSystem.LocalCopiesOf(mountpoint);
            mount = await LayerMount.MountAsync(content, mountpoint, _loggerFactory,
                WritesLocalCopies && Directory.Exists(localCopies) ? localCopies : null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            content.Dispose();
            throw;
        }
        Register(mountpoint, reference, mount, blob);
    }

    private void Register(string mountpoint, ImageReference reference, LayerMount mount, RegistryLayerBlob blob)
    {
        if (!_mounts.TryAdd(mountpoint, new Layer(mount, blob)))
        {
            mount.Dispose();
            throw new RemoteLayerException($"{mountpoint} was mounted concurrently");
        }
        RemoteLog.LayerMounted(_logger, blob.Digest.ToString(), reference.ToString(), mountpoint);
    }

    /// <summary>The layer blob by digest in the image's repository, its size known (no manifest needed).</summary>
    private RegistryLayerBlob OpenBlob(ImageReference reference, Digest layer, long size) =>
        new(_registry.OpenBlob(reference, new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = layer, Size = size }));

    public async Task CheckAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountpoint);
        if (!_mounts.TryGetValue(mountpoint, out var layer))
        {
            throw new RemoteLayerException($"no remote layer is mounted at {mountpoint}");
        }
        if (layer.Mount.Completion.IsCompleted)
        {
            throw new RemoteLayerException($"the FUSE connection of layer {layer.Mount.LayerDigest} at {mountpoint} has ended");
        }
        // A container starts once its layers' prefetch is local, or after the timeout without it (at
        // once with a zero timeout: its reads then join the prefetch requests in flight).
        if (!layer.Mount.PrefetchCompletion.IsCompleted && _mountOptions.Prefetch.Timeout > TimeSpan.Zero)
        {
            try
            {
                await layer.Mount.PrefetchCompletion.WaitAsync(_mountOptions.Prefetch.Timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                RemoteLog.PrefetchTimedOut(_logger, layer.Mount.LayerDigest.ToString(), _mountOptions.Prefetch.Timeout.TotalSeconds);
            }
        }
        if (layer.Mount.Statistics.IsFullyLocal)
        {
            return; // every chunk is in the cache: the registry is no longer needed
        }
        try
        {
            await layer.Blob.Ranged.CheckAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            RemoteLog.CheckFailed(_logger, layer.Mount.LayerDigest.ToString(), mountpoint, e);
            throw new RemoteLayerException($"layer {layer.Mount.LayerDigest} at {mountpoint} is unreachable: {e.Message}", e);
        }
    }

    /// <summary>With <see cref="PrefetchOptions.PullWait"/>, an image's top layer holds its pull until the image's prefetch is local (<see cref="PullWait"/>).</summary>
    public async Task PreparedAsync(string mountpoint, IReadOnlyList<string> remoteAncestors, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(remoteAncestors);
        var limit = _mountOptions.Prefetch.PullWait;
        if (limit <= TimeSpan.Zero || !_mounts.TryGetValue(mountpoint, out var top) || !PullWait.IsImageTop(labels, top.Mount.LayerDigest.ToString()))
        {
            return;
        }
        var prefetches = remoteAncestors.Prepend(mountpoint)
            .Select(m => _mounts.TryGetValue(m, out var layer) ? layer.Mount.PrefetchCompletion : null)
            .OfType<Task>()
            .ToList();
        await PullWait.WaitAsync(top.Mount.LayerDigest.ToString(), prefetches, limit, _logger, cancellationToken).ConfigureAwait(false);
    }

    public Task UnmountAsync(string mountpoint, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountpoint);
        if (_mounts.TryRemove(mountpoint, out var layer))
        {
            layer.Mount.Dispose();
            var digest = layer.Mount.LayerDigest;
            // The record serves every mount of the layer (images may share it).
            if (!IsMounted(digest))
            {
                _tails?.Delete(digest);
            }
            RemoteLog.LayerUnmounted(_logger, digest.ToString(), mountpoint);
        }
        return Task.CompletedTask;
    }

    public IReadOnlyCollection<string> KeptMountPoints => _mountOptions.Handover?.InheritedMountPoints ?? [];

    public void ReleaseUnclaimed()
    {
        foreach (var mountpoint in _mountOptions.Handover?.ReleaseUnclaimed() ?? [])
        {
            RemoteLog.KeptMountReleased(_logger, mountpoint);
        }
    }

    /// <summary>
    /// The daemon stops: with a handover store every layer stays mounted for the next process to
    /// serve (running containers wait instead of failing), else every layer is unmounted.
    /// </summary>
    public void Dispose()
    {
        _preOpener.Dispose();
        var layers = _mounts.Keys.Select(m => _mounts.TryRemove(m, out var layer) ? layer : null).OfType<Layer>().ToList();
        // In parallel: each may wait for its reads in flight.
        Parallel.ForEach(layers, layer => layer.Mount.Suspend());
    }

    internal static (ImageReference Reference, Digest Layer, Digest Toc) ParseLabels(IReadOnlyDictionary<string, string> labels)
    {
        var referenceText = Label(labels, StargzReferenceLabel) ?? Label(labels, CriReferenceLabel)
            ?? throw new RemoteLayerException($"no image reference label ({StargzReferenceLabel} or {CriReferenceLabel})");
        var digestText = Label(labels, StargzDigestLabel) ?? Label(labels, CriDigestLabel)
            ?? throw new RemoteLayerException($"no layer digest label ({StargzDigestLabel} or {CriDigestLabel})");
        var tocText = Label(labels, TocDigestLabel)
            ?? throw new RemoteLayerException($"no {TocDigestLabel} label: the layer cannot be verified, so it is not mounted lazily");
        if (!ImageReference.TryParse(referenceText, out var reference))
        {
            throw new RemoteLayerException($"invalid image reference '{referenceText}'");
        }
        if (!Digest.TryParse(digestText, out var layer))
        {
            throw new RemoteLayerException($"invalid layer digest '{digestText}'");
        }
        if (!Digest.TryParse(tocText, out var toc))
        {
            throw new RemoteLayerException($"invalid TOC digest '{tocText}'");
        }
        return (reference, layer, toc);
    }

    /// <summary>The mount options, with rpull's prefetch size label (bytes) for layers without a landmark.</summary>
    private LayerMountOptions OptionsFor(IReadOnlyDictionary<string, string> labels) =>
        Label(labels, PrefetchSizeLabel) is { } text && long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size)
            ? _mountOptions with { Prefetch = _mountOptions.Prefetch with { SizeWithoutLandmark = size } }
            : _mountOptions;

    private static string? Label(IReadOnlyDictionary<string, string> labels, string key) =>
        labels.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;

    /// <summary>
    /// The layer's descriptor (its size) from the image's manifest: the registry offers no blob HEAD.
    /// containerd prepares an image's layers one after the other, so the resolved image is kept
    /// for <see cref="ResolvedImageLifetime"/>: one resolve per pull, not one per layer. A layer not
    /// in the default platform's manifest is looked for in the index's other manifests. Also
    /// returns the layers of the manifest it was found in.
    /// </summary>
    private async Task<(Descriptor Layer, IReadOnlyList<Descriptor> Siblings)> FindLayerAsync(ImageReference reference, Digest layer, CancellationToken cancellationToken)
    {
        var key = reference.ToString();
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (!_resolved.TryGetValue(key, out var cached) || _time.GetElapsedTime(cached.At) > ResolvedImageLifetime || attempt > 0)
            {
                cached = new CachedImage(await _registry.ResolveAsync(reference, cancellationToken: cancellationToken).ConfigureAwait(false), _time.GetTimestamp());
                _resolved[key] = cached;
            }
            if (cached.Image.Manifest.Layers.FirstOrDefault(d => d.Digest == layer) is { } found)
            {
                return (found, cached.Image.Manifest.Layers);
            }
            foreach (var other in cached.Image.Index?.Manifests ?? [])
            {
                if (other.Digest == cached.Image.ManifestDescriptor.Digest)
                {
                    continue;
                }
                var content = await _registry.GetManifestAsync(reference.WithDigest(other.Digest), cancellationToken).ConfigureAwait(false);
                var manifest = ImageManifest.Parse(content.Bytes);
                if (manifest.Layers.FirstOrDefault(d => d.Digest == layer) is { } inOther)
                {
                    return (inOther, manifest.Layers);
                }
            }
        }
        throw new RemoteLayerException($"layer {layer} is not in the manifest of {reference}");
    }

    private sealed record CachedImage(ResolvedImage Image, long At);

    private sealed record Layer(LayerMount Mount, RegistryLayerBlob Blob);
}

internal static partial class RemoteLog
{
    [LoggerMessage(200, LogLevel.Information, "Mounted layer {Layer} of {Reference} lazily at {MountPoint}")]
    public static partial void LayerMounted(ILogger logger, string layer, string reference, string mountPoint);

    [LoggerMessage(201, LogLevel.Information, "Unmounted layer {Layer} at {MountPoint}")]
    public static partial void LayerUnmounted(ILogger logger, string layer, string mountPoint);

    [LoggerMessage(202, LogLevel.Warning, "Check of layer {Layer} at {MountPoint} failed")]
    public static partial void CheckFailed(ILogger logger, string layer, string mountPoint, Exception exception);

    [LoggerMessage(205, LogLevel.Warning, "The recorded footer and TOC of layer {Layer} did not open it ({Reason}); reading them from the registry")]
    public static partial void RecordedTailUnusable(ILogger logger, string layer, string reason);

    [LoggerMessage(206, LogLevel.Warning, "Could not keep the footer and TOC of layer {Layer} for the next start; it will read them from the registry")]
    public static partial void RecordedTailNotSaved(ILogger logger, string layer, Exception exception);

    [LoggerMessage(204, LogLevel.Warning, "Unmounted {MountPoint}, kept by the previous process for a snapshot that is gone or could not be restored")]
    public static partial void KeptMountReleased(ILogger logger, string mountPoint);

    [LoggerMessage(211, LogLevel.Debug, "Layer {Layer} was opened from its labels, but its image's manifest could not be read ({Reason}); its other layers are not opened ahead")]
    public static partial void ManifestUnread(ILogger logger, string layer, string reason);

    [LoggerMessage(210, LogLevel.Warning, "Layer {Layer}: its labels give a blob of {Hinted} bytes, its manifest {Actual}; its tail did not open with the labels' size ({Reason}) and is read again")]
    public static partial void HintedSizeWrong(ILogger logger, string layer, long hinted, long actual, string reason);

    [LoggerMessage(208, LogLevel.Debug, "Layer {Layer}: manifest {ResolveMs:F1} ms (0: its size came with the labels), footer and TOC {OpenMs:F1} ms")]
    public static partial void Opened(ILogger logger, string layer, double resolveMs, double openMs);

    [LoggerMessage(207, LogLevel.Debug, "Opening layer {Layer} ahead of its mount failed ({Reason}); its mount opens it again")]
    public static partial void PreOpenFailed(ILogger logger, string layer, string reason);

    [LoggerMessage(203, LogLevel.Warning, "Prefetch of layer {Layer} is not done after {Seconds} s; the container starts without waiting for it")]
    public static partial void PrefetchTimedOut(ILogger logger, string layer, double seconds);
}
