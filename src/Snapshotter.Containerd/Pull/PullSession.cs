using Microsoft.Extensions.Logging;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Containerd.Pull;

/// <summary>
/// One pull, under its lease: the index, manifest and config stored with containerd's labels, then
/// each layer prepared on the snapshotter (lazy when the snapshotter takes it) or fetched, applied
/// and committed. Layer blobs that will surely be fetched are fetched ahead (<see cref="LayerFetches"/>).
/// </summary>
internal sealed class PullSession : IAsyncDisposable
{
    private readonly ContainerdClient _client;
    private readonly IRegistryClient _registry;
    private readonly ImageReference _reference;
    private readonly ResolvedImage _resolved;
    private readonly IPullProgress? _progress;
    private readonly Func<string> _unique;
    private readonly ILogger _logger;
    private readonly CancellationToken _cancellationToken;
    private readonly SnapshotService _snapshots;
    private readonly LayerFetches _fetches;
    private IReadOnlyList<Digest> _chainIds = [];

    public PullSession(ContainerdClient client, IRegistryClient registry, ImageReference reference, ResolvedImage resolved, PullOptions options,
        IPullProgress? progress, Func<string> unique, ILogger logger, CancellationToken cancellationToken)
    {
        _client = client;
        _registry = registry;
        _reference = reference;
        _resolved = resolved;
        _progress = progress;
        _unique = unique;
        _logger = logger;
        _cancellationToken = cancellationToken;
        _snapshots = client.Snapshots(options.Snapshotter);
        _fetches = new LayerFetches(resolved.Manifest.Layers, FetchAsync, FetchAheadAsync, cancellationToken);
    }

    public ContainerdClient Client => _client;

    private IReadOnlyList<Descriptor> Layers => _resolved.Manifest.Layers;

    /// <summary>The reference the snapshotter resolves: pinned to the platform manifest, so a moved tag or another platform cannot mislead it.</summary>
    private string PinnedReference => _reference.WithDigest(_resolved.ManifestDescriptor.Digest).ToString();

    public async Task StoreMetadataAsync(byte[] configBytes)
    {
        var manifest = _resolved.Manifest;
        await StoreAsync(manifest.Config, configBytes, gcReferences: null).ConfigureAwait(false);
        await StoreAsync(_resolved.ManifestDescriptor, _resolved.ManifestBytes, PullLabels.GcReferences([manifest.Config, .. manifest.Layers])).ConfigureAwait(false);
        if (_resolved.Index is { } index)
        {
            await StoreAsync(_resolved.Target, _resolved.TargetBytes, PullLabels.GcReferences(index.Manifests)).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<PulledLayer>> UnpackAsync(IReadOnlyList<Digest> diffIds)
    {
        var chainIds = _chainIds = ChainIds.Compute(diffIds);
        var pulled = new List<PulledLayer>(Layers.Count);
        for (var i = 0; i < Layers.Count; i++)
        {
            var parent = i == 0 ? "" : chainIds[i - 1].Value;
            var (outcome, bytes) = await UnpackLayerAsync(i, parent, diffIds[i], chainIds[i]).ConfigureAwait(false);
            pulled.Add(new PulledLayer(Layers[i], diffIds[i], chainIds[i], outcome, bytes));
        }
        return pulled;
    }

    public async Task SetLabelsAsync(Descriptor descriptor, IReadOnlyDictionary<string, string> labels) =>
        await _client.Content.SetLabelsAsync(descriptor.Digest, labels, _cancellationToken).ConfigureAwait(false);

    /// <summary>Stops fetches ahead, so nothing is written once the pull (and its lease) ends.</summary>
    public ValueTask DisposeAsync() => _fetches.DisposeAsync();

    private async Task<(LayerOutcome Outcome, long Bytes)> UnpackLayerAsync(int index, string parent, Digest diffId, Digest chainId)
    {
        var layer = Layers[index];
        if (await _snapshots.StatAsync(chainId.Value, _cancellationToken).ConfigureAwait(false) is not null)
        {
            await _fetches.ForgetAsync(index).ConfigureAwait(false);
            _progress?.LayerChanged(index, LayerPhase.Present, 0);
            return (LayerOutcome.Present, 0);
        }
        var labels = PullLabels.ForLayer(PinnedReference, _resolved.ManifestDescriptor.Digest, Layers, index, chainId);
        string? key = null;
        IReadOnlyList<MountSpec>? mounts = null;
        for (var attempt = 1; mounts is null; attempt++)
        {
            key = $"extract-{_unique()} {chainId}";
            try
            {
                mounts = await _snapshots.PrepareAsync(key, parent, labels, _cancellationToken).ConfigureAwait(false);
            }
            catch (ContainerdException e) when (e.IsAlreadyExists)
            {
                // A remote snapshotter committed the layer itself (protocols.md §4.5), or another pull did.
                if (await _snapshots.StatAsync(chainId.Value, _cancellationToken).ConfigureAwait(false) is not null)
                {
                    await _fetches.ForgetAsync(index).ConfigureAwait(false);
                    PullLog.LayerLazy(_logger, layer.Digest.ToString(), chainId.ToString());
                    _progress?.LayerChanged(index, LayerPhase.Lazy, 0);
                    return (LayerOutcome.Lazy, 0);
                }
                if (attempt == 3)
                {
                    throw new ContainerdException(ContainerdError.AlreadyExists,
                        $"layer {layer.Digest}: the snapshotter says {key} exists, yet has no snapshot {chainId}", e);
                }
            }
        }

        try
        {
            // The snapshotter did not take this layer: the layers above it without a TOC cannot be taken either.
            _fetches.StartAhead(index + 1);
            var bytes = await _fetches.FetchAsync(index).ConfigureAwait(false);
            _progress?.LayerChanged(index, LayerPhase.Applying, bytes);
            var applied = await _client.Diff.ApplyAsync(layer, mounts, _cancellationToken).ConfigureAwait(false);
            if (applied.Digest != diffId)
            {
                throw new InvalidDataException($"layer {layer.Digest} unpacked to {applied.Digest}, but the config says its diff id is {diffId}");
            }
            try
            {
                await _snapshots.CommitAsync(chainId.Value, key!, labels, _cancellationToken).ConfigureAwait(false);
            }
            catch (ContainerdException e) when (e.IsAlreadyExists)
            {
                // Another pull committed the same layer meanwhile; ours is not needed.
                await RemoveQuietlyAsync(key!).ConfigureAwait(false);
            }
            key = null;
            await SetLabelsAsync(layer, new Dictionary<string, string> { [PullLabels.Uncompressed] = diffId.Value }).ConfigureAwait(false);
            PullLog.LayerApplied(_logger, layer.Digest.ToString(), chainId.ToString(), bytes);
            _progress?.LayerChanged(index, LayerPhase.Applied, bytes);
            return (LayerOutcome.Applied, bytes);
        }
        finally
        {
            if (key is not null)
            {
                await RemoveQuietlyAsync(key).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A fetch ahead; skipped (null) when the layer's snapshot exists already (a layer shared with an image pulled before).</summary>
    private async Task<long?> FetchAheadAsync(int index, CancellationToken cancellationToken) =>
        await _snapshots.StatAsync(_chainIds[index].Value, cancellationToken).ConfigureAwait(false) is null
            ? await FetchAsync(index, cancellationToken).ConfigureAwait(false)
            : null;

    /// <summary>Fetches a layer blob into the content store (unless it is there) and returns the bytes fetched.</summary>
    private async Task<long> FetchAsync(int index, CancellationToken cancellationToken)
    {
        var layer = Layers[index];
        _progress?.LayerChanged(index, LayerPhase.Fetching, 0);
        var fetched = 0L;
        var written = await StoreAsync(layer, gcReferences: null, (stream, token) => _registry.CopyBlobAsync(_reference, layer, stream, token),
            new CallbackProgress(bytes =>
            {
                fetched = bytes;
                _progress?.LayerChanged(index, LayerPhase.Fetching, bytes);
            }), cancellationToken).ConfigureAwait(false);
        return written ? fetched : 0;
    }

    private Task<bool> StoreAsync(Descriptor descriptor, byte[] bytes, IReadOnlyDictionary<string, string>? gcReferences) =>
        StoreAsync(descriptor, gcReferences, (stream, token) => stream.WriteAsync(bytes, token).AsTask(), progress: null, _cancellationToken);

    /// <summary>
    /// Writes a blob with its distribution source and GC labels. When the namespace holds it
    /// already, the labels are merged into it and the lease made to hold it.
    /// </summary>
    private async Task<bool> StoreAsync(Descriptor descriptor, IReadOnlyDictionary<string, string>? gcReferences,
        Func<Stream, CancellationToken, Task> write, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var labels = new Dictionary<string, string>(gcReferences ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (PullLabels.DistributionSource(_reference) is { } source)
        {
            labels[source.Key] = source.Value;
        }
        descriptor = descriptor with { Annotations = null };
        if (await _client.Content.WriteAsync(ContentStore.IngestReference(descriptor), descriptor, labels, write, progress, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }
        await _client.Leases.AddResourceAsync(_client.Lease!, new LeaseResource("content", descriptor.Digest.Value), cancellationToken).ConfigureAwait(false);
        var existing = await _client.Content.InfoAsync(descriptor.Digest, cancellationToken).ConfigureAwait(false);
        var current = existing?.Labels.GetValueOrDefault(PullLabels.DistributionSourceKey(_reference));
        if (PullLabels.DistributionSource(_reference, current) is { } merged)
        {
            labels[merged.Key] = merged.Value;
        }
        else
        {
            labels.Remove(PullLabels.DistributionSourceKey(_reference));
        }
        await _client.Content.SetLabelsAsync(descriptor.Digest, labels, cancellationToken).ConfigureAwait(false);
        return false;
    }

    private async Task RemoveQuietlyAsync(string key)
    {
        try
        {
            await _snapshots.RemoveAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ContainerdException e)
        {
            PullLog.RemoveFailed(_logger, key, e);
        }
    }

    /// <summary>Reports synchronously on the caller's thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class CallbackProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
