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
            await using var pull = new PullSession(_containerd.WithLease(lease.Id), _registry, reference, resolved, options,
                progress is null ? null : new SerializedProgress(progress), Unique, _logger, cancellationToken);
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
