using System.Collections.Concurrent;
using Snapshotter.Estargz;
using Snapshotter.Fs;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// Opens an image's other eStargz layers (footer and TOC fetched, verified against the TOC digest
/// annotation of the manifest, parsed, the layer's tree built) in parallel as soon as its first
/// layer is mounted, and starts their prefetch. containerd prepares the layers one after the
/// other, each waiting for its mount; with this a later mount finds its layer ready and its
/// prefetch under way instead of paying its own round trips and starting its transfer late. A
/// layer nobody takes within <see cref="Lifetime"/> is dropped, its fetches stopped.
/// </summary>
internal sealed class LayerPreOpener : IDisposable
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);
    private const int MaxParallel = 4;

    private readonly IRegistryClient _registry;
    private readonly Func<RegistryLayerBlob, Descriptor, IBlob> _startEarly;
    private readonly Func<EstargzReader, IBlob, LayerContent> _prepare;
    private readonly TocReads _tocReads;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<Digest, Opening> _openings = new();
    private readonly SemaphoreSlim _parallel = new(MaxParallel);
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="startEarly">The blob a layer's chunks are read through, its hinted prefetch started before its TOC is read (<see cref="EarlyPrefetch.Start"/>).</param>
    /// <param name="prepare">Builds an opened layer's content on those chunks, as its mount will use it.</param>
    /// <param name="tocReads">Counts the TOCs being read, which early prefetches make way for.</param>
    public LayerPreOpener(IRegistryClient registry, Func<RegistryLayerBlob, Descriptor, IBlob> startEarly, Func<EstargzReader, IBlob, LayerContent> prepare,
        TocReads tocReads, ILogger logger, TimeProvider? time = null)
    {
        _tocReads = tocReads;
        _registry = registry;
        _startEarly = startEarly;
        _prepare = prepare;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Starts opening each eStargz layer of <paramref name="layers"/> that <paramref name="wanted"/> accepts and is not opening already.</summary>
    public void OpenAll(ImageReference reference, IEnumerable<Descriptor> layers, Func<Digest, bool> wanted)
    {
        DropExpired();
        foreach (var layer in layers)
        {
            if (layer.Annotation(EstargzRemoteFileSystem.TocDigestLabel) is not { } tocText || !Digest.TryParse(tocText, out var toc)
                || !wanted(layer.Digest) || _openings.ContainsKey(layer.Digest))
            {
                continue;
            }
            var opening = new Opening(toc, _time.GetTimestamp());
            if (_openings.TryAdd(layer.Digest, opening))
            {
                opening.Task = OpenAsync(reference, layer, toc);
            }
        }
    }

    /// <summary>
    /// The opened layer if it was being opened with the same TOC digest and opened well; null
    /// otherwise (the caller opens it itself). Each opened layer is handed out once.
    /// </summary>
    public async Task<OpenedLayer?> TakeAsync(Digest layer, Digest toc, CancellationToken cancellationToken)
    {
        if (!_openings.TryRemove(layer, out var opening))
        {
            return null;
        }
        if (opening.Toc != toc || opening.Task is null)
        {
            Discard(opening);
            return null;
        }
        try
        {
            if (opening.Task.IsCompleted)
            {
                return await opening.Task.ConfigureAwait(false);
            }
            var waiting = _time.GetTimestamp();
            var opened = await opening.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            RemoteLog.WaitedForPreOpen(_logger, layer.ToString(), _time.GetElapsedTime(waiting).TotalMilliseconds);
            return opened;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Discard(opening); // the mount gave up: nobody will take it
            throw;
        }
        catch (Exception e)
        {
            RemoteLog.PreOpenFailed(_logger, layer.ToString(), e.Message);
            return null;
        }
    }

    private async Task<OpenedLayer> OpenAsync(ImageReference reference, Descriptor layer, Digest toc)
    {
        await _parallel.WaitAsync(_stopping.Token).ConfigureAwait(false);
        try
        {
            var blob = new RegistryLayerBlob(_registry.OpenBlob(reference, layer));
            // The tail a waiting mount is reading goes first; this one is for a later mount.
            var queued = _time.GetTimestamp();
            await _tocReads.WhenNoCritical.WaitAsync(_stopping.Token).ConfigureAwait(false);
            var started = _time.GetTimestamp();
            var tocRead = _tocReads.Begin();
            var chunks = _startEarly(blob, layer);
            try
            {
                var recording = new TailRecordingBlob(blob, null);
                var reader = await EstargzReader.OpenAsync(recording, toc, EstargzRemoteFileSystem.TailOptions(layer), _stopping.Token).ConfigureAwait(false);
                tocRead.Dispose();
                var opened = _time.GetTimestamp();
                var tail = recording.Seal();
                var content = _prepare(reader, chunks);
                RemoteLog.OpenedAhead(_logger, layer.Digest.ToString(), _time.GetElapsedTime(queued, started).TotalMilliseconds,
                    _time.GetElapsedTime(started, opened).TotalMilliseconds, _time.GetElapsedTime(opened).TotalMilliseconds);
                // Its mount waits for the prefetch like for its own.
                EarlyPrefetch.ReleaseAfter(chunks, content.StartPrefetch());
                return new OpenedLayer(reader, blob, tail, content);
            }
            catch
            {
                EarlyPrefetch.Release(chunks);
                throw;
            }
            finally
            {
                tocRead.Dispose();
            }
        }
        finally
        {
            _parallel.Release();
        }
    }

    private void DropExpired()
    {
        foreach (var (digest, opening) in _openings)
        {
            if (_time.GetElapsedTime(opening.At) > Lifetime && _openings.TryRemove(digest, out _))
            {
                Discard(opening);
            }
        }
    }

    /// <summary>Stops the fetches of a layer nobody will take.</summary>
    private static void Discard(Opening opening) =>
        opening.Task?.ContinueWith(t => t.Result.Content.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);

    public void Dispose()
    {
        _stopping.Cancel();
        foreach (var digest in _openings.Keys)
        {
            if (_openings.TryRemove(digest, out var opening))
            {
                Discard(opening);
            }
        }
    }

    private sealed class Opening(Digest toc, long at)
    {
        public Digest Toc { get; } = toc;
        public long At { get; } = at;
        public Task<OpenedLayer>? Task { get; set; }
    }
}

/// <summary>A layer's reader, the blob it reads, what opening it read (for <see cref="LayerTails"/>) and its content, prefetch started; the taker owns the content.</summary>
internal sealed record OpenedLayer(EstargzReader Reader, RegistryLayerBlob Blob, RecordedTail Tail, LayerContent Content);

internal static partial class RemoteLog
{
    [LoggerMessage(212, LogLevel.Debug, "Layer {Layer} opened ahead of its mount: {WaitedMs:F1} ms behind a waiting mount's tail, footer and TOC {OpenMs:F1} ms, content {PrepareMs:F1} ms")]
    public static partial void OpenedAhead(ILogger logger, string layer, double waitedMs, double openMs, double prepareMs);

    [LoggerMessage(213, LogLevel.Debug, "Layer {Layer}: its mount waited {WaitedMs:F1} ms for the layer being opened ahead")]
    public static partial void WaitedForPreOpen(ILogger logger, string layer, double waitedMs);
}
