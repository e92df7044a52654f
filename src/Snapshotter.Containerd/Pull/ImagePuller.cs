using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Containerd.Pull;

/// <summary>
/// Pulls an image into containerd for lazy use, as <c>ctr-remote image rpull</c> does: the index,
/// manifest and config go into the content store with containerd's GC labels; each layer, bottom
/// first, is prepared on the snapshotter with the remote-snapshot labels, so a lazy snapshotter
/// mounts it from the registry and answers AlreadyExists; a layer it does not take is fetched into
/// the content store, applied with the diff service and committed. Everything is done under a
/// lease that is deleted at the end, and the image record names the resolved root descriptor.
/// </summary>
public sealed class ImagePuller
{
    private readonly ContainerdClient _containerd;
    private readonly IRegistryClient _registry;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public ImagePuller(ContainerdClient containerd, IRegistryClient registry, ILogger<ImagePuller>? logger = null, TimeProvider? timeProvider = null)
    {
        _containerd = containerd ?? throw new ArgumentNullException(nameof(containerd));
        _registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    public async Task<PullResult> PullAsync(ImageReference reference, PullOptions? options = null, IPullProgress? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        options ??= new PullOptions();
        // Fail fast, before any registry traffic, when containerd does not answer.
        await _containerd.VersionAsync(cancellationToken).ConfigureAwait(false);
        var resolved = await _registry.ResolveAsync(reference, options.Platform, cancellationToken).ConfigureAwait(false);
        var manifest = resolved.Manifest;
        var configBytes = await _registry.GetBlobAsync(reference, manifest.Config, cancellationToken).ConfigureAwait(false);
        var config = ImageConfig.Parse(configBytes);
        var diffIds = config.DiffIds;
        if (diffIds.Count != manifest.Layers.Count)
        {
            throw new FormatException($"{reference}: the manifest lists {manifest.Layers.Count} layers but the config {diffIds.Count} diff ids");
        }
        if (manifest.Layers.FirstOrDefault(l => !MediaTypes.IsLayer(l.MediaType)) is { } odd)
        {
            throw new FormatException($"{reference}: {odd.Digest} is a {odd.MediaType}, not an image layer");
        }
        var name = reference.ToString();
        progress?.Planned(new PullPlan(name, resolved.Target, resolved.ManifestDescriptor, config.Platform, manifest.Layers));

        var lease = await _containerd.Leases.CreateAsync($"stargzctl-rpull-{Unique()}", _time.GetUtcNow() + options.LeaseExpiry,
            cancellationToken: cancellationToken).ConfigureAwait(false);
        PullLog.LeaseCreated(_logger, lease.Id, name);
        try
        {
            var pull = new Pull(this, _containerd.WithLease(lease.Id), reference, resolved, options, progress, cancellationToken);
            await pull.StoreMetadataAsync(configBytes).ConfigureAwait(false);
            var layers = await pull.UnpackAsync(diffIds).ConfigureAwait(false);
            var chainId = layers[^1].ChainId;
            await pull.SetLabelsAsync(manifest.Config, new Dictionary<string, string> { [PullLabels.GcSnapshotPrefix + options.Snapshotter] = chainId.Value }).ConfigureAwait(false);
            var image = await pull.Client.Images.CreateOrUpdateAsync(new ImageRecord(name, resolved.Target) { Labels = options.ImageLabels ?? new Dictionary<string, string>() },
                cancellationToken).ConfigureAwait(false);
            return new PullResult(image, resolved.ManifestDescriptor, manifest.Config.Digest, chainId, layers);
        }
        finally
        {
            await DeleteLeaseAsync(lease.Id).ConfigureAwait(false);
        }
    }

    /// <summary>Ends the lease even when the pull was canceled; a lease left behind expires by its label.</summary>
    private async Task DeleteLeaseAsync(string id)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _containerd.Leases.DeleteAsync(id, cancellationToken: timeout.Token).ConfigureAwait(false);
            PullLog.LeaseDeleted(_logger, id);
        }
        catch (Exception e) when (e is ContainerdException or OperationCanceledException)
        {
            PullLog.LeaseNotDeleted(_logger, id, e);
        }
    }

    /// <summary>containerd's unique part of an extraction key: nanoseconds and three random bytes.</summary>
    private string Unique() =>
        $"{_time.GetUtcNow().Ticks % 10_000_000 * 100}-{Convert.ToBase64String(RandomNumberGenerator.GetBytes(3)).Replace('+', '-').Replace('/', '_')}";

    /// <summary>The state of one pull.</summary>
    private sealed class Pull(ImagePuller owner, ContainerdClient client, ImageReference reference, ResolvedImage resolved, PullOptions options,
        IPullProgress? progress, CancellationToken cancellationToken)
    {
        private readonly SnapshotService _snapshots = client.Snapshots(options.Snapshotter);

        public ContainerdClient Client => client;

        /// <summary>The reference the snapshotter resolves: pinned to the platform manifest, so a moved tag or another platform cannot mislead it.</summary>
        private string PinnedReference => reference.WithDigest(resolved.ManifestDescriptor.Digest).ToString();

        public async Task StoreMetadataAsync(byte[] configBytes)
        {
            var manifest = resolved.Manifest;
            await StoreAsync(manifest.Config, configBytes, gcReferences: null).ConfigureAwait(false);
            await StoreAsync(resolved.ManifestDescriptor, resolved.ManifestBytes, PullLabels.GcReferences([manifest.Config, .. manifest.Layers])).ConfigureAwait(false);
            if (resolved.Index is { } index)
            {
                await StoreAsync(resolved.Target, resolved.TargetBytes, PullLabels.GcReferences(index.Manifests)).ConfigureAwait(false);
            }
        }

        public async Task<IReadOnlyList<PulledLayer>> UnpackAsync(IReadOnlyList<Digest> diffIds)
        {
            var layers = resolved.Manifest.Layers;
            var chainIds = ChainIds.Compute(diffIds);
            var pulled = new List<PulledLayer>(layers.Count);
            for (var i = 0; i < layers.Count; i++)
            {
                var parent = i == 0 ? "" : chainIds[i - 1].Value;
                var (outcome, bytes) = await UnpackLayerAsync(i, parent, diffIds[i], chainIds[i]).ConfigureAwait(false);
                pulled.Add(new PulledLayer(layers[i], diffIds[i], chainIds[i], outcome, bytes));
            }
            return pulled;
        }

        public async Task SetLabelsAsync(Descriptor descriptor, IReadOnlyDictionary<string, string> labels) =>
            await client.Content.SetLabelsAsync(descriptor.Digest, labels, cancellationToken).ConfigureAwait(false);

        private async Task<(LayerOutcome Outcome, long Bytes)> UnpackLayerAsync(int index, string parent, Digest diffId, Digest chainId)
        {
            var layer = resolved.Manifest.Layers[index];
            if (await _snapshots.StatAsync(chainId.Value, cancellationToken).ConfigureAwait(false) is not null)
            {
                progress?.LayerChanged(index, LayerPhase.Present, 0);
                return (LayerOutcome.Present, 0);
            }
            var labels = PullLabels.ForLayer(PinnedReference, resolved.ManifestDescriptor.Digest, resolved.Manifest.Layers, index, chainId);
            string? key = null;
            IReadOnlyList<MountSpec>? mounts = null;
            for (var attempt = 1; mounts is null; attempt++)
            {
                key = $"extract-{owner.Unique()} {chainId}";
                try
                {
                    mounts = await _snapshots.PrepareAsync(key, parent, labels, cancellationToken).ConfigureAwait(false);
                }
                catch (ContainerdException e) when (e.IsAlreadyExists)
                {
                    // A remote snapshotter committed the layer itself (protocols.md §4.5), or another pull did.
                    if (await _snapshots.StatAsync(chainId.Value, cancellationToken).ConfigureAwait(false) is not null)
                    {
                        PullLog.LayerLazy(owner._logger, layer.Digest.ToString(), chainId.ToString());
                        progress?.LayerChanged(index, LayerPhase.Lazy, 0);
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
                var bytes = await FetchLayerAsync(index, layer).ConfigureAwait(false);
                progress?.LayerChanged(index, LayerPhase.Applying, bytes);
                var applied = await client.Diff.ApplyAsync(layer, mounts, cancellationToken).ConfigureAwait(false);
                if (applied.Digest != diffId)
                {
                    throw new InvalidDataException($"layer {layer.Digest} unpacked to {applied.Digest}, but the config says its diff id is {diffId}");
                }
                try
                {
                    await _snapshots.CommitAsync(chainId.Value, key!, labels, cancellationToken).ConfigureAwait(false);
                }
                catch (ContainerdException e) when (e.IsAlreadyExists)
                {
                    // Another pull committed the same layer meanwhile; ours is not needed.
                    await RemoveQuietlyAsync(key!).ConfigureAwait(false);
                }
                key = null;
                await SetLabelsAsync(layer, new Dictionary<string, string> { [PullLabels.Uncompressed] = diffId.Value }).ConfigureAwait(false);
                PullLog.LayerApplied(owner._logger, layer.Digest.ToString(), chainId.ToString(), bytes);
                progress?.LayerChanged(index, LayerPhase.Applied, bytes);
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

        /// <summary>Fetches a layer blob into the content store (unless it is there) and returns the bytes fetched.</summary>
        private async Task<long> FetchLayerAsync(int index, Descriptor layer)
        {
            progress?.LayerChanged(index, LayerPhase.Fetching, 0);
            var fetched = 0L;
            var written = await StoreAsync(layer, gcReferences: null, async (stream, token) =>
                    await owner._registry.CopyBlobAsync(reference, layer, stream, token).ConfigureAwait(false),
                new Progress(bytes =>
                {
                    fetched = bytes;
                    progress?.LayerChanged(index, LayerPhase.Fetching, bytes);
                })).ConfigureAwait(false);
            return written ? fetched : 0;
        }

        private Task<bool> StoreAsync(Descriptor descriptor, byte[] bytes, IReadOnlyDictionary<string, string>? gcReferences) =>
            StoreAsync(descriptor, gcReferences, (stream, token) => stream.WriteAsync(bytes, token).AsTask(), progress: null);

        /// <summary>
        /// Writes a blob with its distribution source and GC labels. When the namespace holds it
        /// already, the labels are merged into it and the lease made to hold it.
        /// </summary>
        private async Task<bool> StoreAsync(Descriptor descriptor, IReadOnlyDictionary<string, string>? gcReferences,
            Func<Stream, CancellationToken, Task> write, IProgress<long>? progress)
        {
            var labels = new Dictionary<string, string>(gcReferences ?? new Dictionary<string, string>(), StringComparer.Ordinal);
            if (PullLabels.DistributionSource(reference) is { } source)
            {
                labels[source.Key] = source.Value;
            }
            descriptor = descriptor with { Annotations = null };
            if (await client.Content.WriteAsync(ContentStore.IngestReference(descriptor), descriptor, labels, write, progress, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
            await client.Leases.AddResourceAsync(client.Lease!, new LeaseResource("content", descriptor.Digest.Value), cancellationToken).ConfigureAwait(false);
            var existing = await client.Content.InfoAsync(descriptor.Digest, cancellationToken).ConfigureAwait(false);
            var current = existing?.Labels.GetValueOrDefault(PullLabels.DistributionSourceKey(reference));
            if (PullLabels.DistributionSource(reference, current) is { } merged)
            {
                labels[merged.Key] = merged.Value;
            }
            else
            {
                labels.Remove(PullLabels.DistributionSourceKey(reference));
            }
            await client.Content.SetLabelsAsync(descriptor.Digest, labels, cancellationToken).ConfigureAwait(false);
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
                PullLog.RemoveFailed(owner._logger, key, e);
            }
        }
    }

    /// <summary>Reports synchronously on the caller's thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}

internal static partial class PullLog
{
    [LoggerMessage(1, LogLevel.Debug, "Lease {Lease} created for the pull of {Image}")]
    public static partial void LeaseCreated(ILogger logger, string lease, string image);

    [LoggerMessage(2, LogLevel.Debug, "Lease {Lease} deleted")]
    public static partial void LeaseDeleted(ILogger logger, string lease);

    [LoggerMessage(3, LogLevel.Warning, "Lease {Lease} could not be deleted; it expires by itself")]
    public static partial void LeaseNotDeleted(ILogger logger, string lease, Exception exception);

    [LoggerMessage(4, LogLevel.Information, "Layer {Layer} mounted remotely by the snapshotter as {ChainId}")]
    public static partial void LayerLazy(ILogger logger, string layer, string chainId);

    [LoggerMessage(5, LogLevel.Information, "Layer {Layer} fetched ({Bytes} bytes) and applied as {ChainId}")]
    public static partial void LayerApplied(ILogger logger, string layer, string chainId, long bytes);

    [LoggerMessage(6, LogLevel.Warning, "Could not remove the unfinished snapshot {Key}")]
    public static partial void RemoveFailed(ILogger logger, string key, Exception exception);
}
