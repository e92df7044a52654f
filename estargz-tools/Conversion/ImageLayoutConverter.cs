using System.Diagnostics;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>
/// Converts every image of an OCI image layout (all platforms of an index, or the selected ones)
/// into a new layout whose layers are eStargz: manifests carry the TOC digest and uncompressed
/// size annotations, configs get the new diff_ids, indexes point at the new manifests. Layers that
/// already are eStargz with both annotations are kept; a layer shared by several manifests is
/// converted once.
/// </summary>
internal sealed class ImageLayoutConverter(
    OciImageLayout source,
    OciImageLayout target,
    EstargzBuildOptions options,
    IReadOnlyList<Platform> platforms,
    ConversionProgress progress)
{
    private readonly Dictionary<Digest, LayerConversion> _layers = [];
    private readonly List<ManifestConversion> _manifests = [];

    public async Task<ImageConversion> ConvertAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var index = await source.ReadIndexAsync(cancellationToken);
        var converted = new List<Descriptor>();
        foreach (var descriptor in index.Manifests)
        {
            if (await ConvertDescriptorAsync(descriptor, cancellationToken) is { } result)
            {
                converted.Add(result);
            }
        }
        if (converted.Count == 0)
        {
            throw new FormatException($"no image in {source.Root} matches the platforms {string.Join(", ", platforms)}");
        }
        await target.WriteIndexAsync(index with { Manifests = converted }, cancellationToken);
        return new ImageConversion(source.Root, target.Root, _manifests, stopwatch.Elapsed.TotalSeconds);
    }

    /// <summary>The converted descriptor (annotations and platform kept), or null when the platform filter drops it.</summary>
    private async Task<Descriptor?> ConvertDescriptorAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var document = await source.ReadBlobAsync(descriptor.Digest, cancellationToken);
        var mediaType = ManifestKind.Detect(document, descriptor.MediaType);
        if (MediaTypes.IsIndex(mediaType))
        {
            return await ConvertIndexAsync(descriptor, ImageIndex.Parse(document), cancellationToken);
        }
        if (!MediaTypes.IsManifest(mediaType))
        {
            throw new FormatException($"{descriptor.Digest} is a {mediaType}, not an image manifest or index");
        }
        if (descriptor.Platform is { } platform && !Wanted(platform))
        {
            return null;
        }
        var written = await ConvertManifestAsync(descriptor.Digest, ImageManifest.Parse(document), cancellationToken);
        return written is null ? null : written with { Annotations = descriptor.Annotations, Platform = descriptor.Platform, Extra = descriptor.Extra };
    }

    private async Task<Descriptor?> ConvertIndexAsync(Descriptor descriptor, ImageIndex index, CancellationToken cancellationToken)
    {
        var children = new List<Descriptor>();
        foreach (var child in index.Manifests)
        {
            if (await ConvertDescriptorAsync(child, cancellationToken) is { } converted)
            {
                children.Add(converted);
            }
        }
        if (children.Count == 0)
        {
            return null;
        }
        var rewritten = index with { MediaType = MediaTypes.OciIndex, Manifests = children };
        var written = await target.WriteBlobAsync(MediaTypes.OciIndex, rewritten.ToJsonBytes(), cancellationToken);
        return written with { Annotations = descriptor.Annotations, Platform = descriptor.Platform };
    }

    /// <summary>The new manifest's descriptor, or null when its config's platform is filtered out.</summary>
    private async Task<Descriptor?> ConvertManifestAsync(Digest digest, ImageManifest manifest, CancellationToken cancellationToken)
    {
        var config = ImageConfig.Parse(await source.ReadBlobAsync(manifest.Config.Digest, cancellationToken));
        if (config.Platform is { } platform && !Wanted(platform))
        {
            return null;
        }
        var layers = new List<Descriptor>(manifest.Layers.Count);
        var results = new List<LayerConversion>(manifest.Layers.Count);
        foreach (var layer in manifest.Layers)
        {
            if (MediaTypes.IsNondistributable(layer.MediaType))
            {
                throw new FormatException($"layer {layer.Digest} is non-distributable ({layer.MediaType}); it cannot be converted");
            }
            var result = await ConvertLayerAsync(layer, cancellationToken);
            results.Add(result);
            layers.Add(new Descriptor
            {
                MediaType = MediaTypes.OciLayerGzip,
                Digest = result.Target,
                Size = result.TargetSize,
                Urls = layer.Urls,
                Annotations = WithEstargzAnnotations(layer.Annotations, result),
            });
        }
        config.DiffIds = results.Select(r => r.DiffId).ToList();
        var configDescriptor = await target.WriteBlobAsync(MediaTypes.OciConfig, config.ToJsonBytes(), cancellationToken);
        var rewritten = manifest with
        {
            MediaType = MediaTypes.OciManifest,
            Config = configDescriptor with { Annotations = manifest.Config.Annotations },
            Layers = layers,
        };
        var written = await target.WriteBlobAsync(MediaTypes.OciManifest, rewritten.ToJsonBytes(), cancellationToken);
        _manifests.Add(new ManifestConversion(digest, written.Digest, config.Platform?.ToString(), results));
        return written;
    }

    private async Task<LayerConversion> ConvertLayerAsync(Descriptor layer, CancellationToken cancellationToken)
    {
        if (_layers.TryGetValue(layer.Digest, out var done))
        {
            return done;
        }
        var result = await KeepIfAlreadyEstargzAsync(layer, cancellationToken)
            ?? await ConvertAsync(layer, cancellationToken);
        _layers[layer.Digest] = result;
        return result;
    }

    private async Task<LayerConversion> ConvertAsync(Descriptor layer, CancellationToken cancellationToken)
    {
        var sourcePath = source.BlobPath(layer.Digest);
        if (!File.Exists(sourcePath))
        {
            throw new FileNotFoundException($"layer {layer.Digest} is not in the OCI layout {source.Root}", sourcePath);
        }
        if (new FileInfo(sourcePath).Length != layer.Size)
        {
            throw new FormatException($"layer {layer.Digest} is {new FileInfo(sourcePath).Length} bytes, its descriptor says {layer.Size}");
        }
        var staging = Path.Combine(target.Root, "blobs", "sha256", $".convert-{layer.Digest.Hex}");
        using var task = progress.StartLayer(layer);
        var result = await LayerConverter.ConvertFileAsync(sourcePath, staging, layer.MediaType, options, task, cancellationToken);
        if (result.Source != layer.Digest)
        {
            File.Delete(staging);
            throw new DigestMismatchException($"layer blob {sourcePath}", layer.Digest, result.Source);
        }
        File.Move(staging, target.BlobPath(result.Target), overwrite: true);
        return result;
    }

    /// <summary>A layer that is already eStargz with both annotations is copied as it is.</summary>
    private async Task<LayerConversion?> KeepIfAlreadyEstargzAsync(Descriptor layer, CancellationToken cancellationToken)
    {
        if (layer.Annotation(Annotations.TocDigest) is not { } tocText || !Digest.TryParse(tocText, out var tocDigest) ||
            layer.Annotation(Annotations.UncompressedSize) is not { } sizeText || !long.TryParse(sizeText, out var uncompressedSize))
        {
            return null;
        }
        using (var blob = new FileBlobSource(source.BlobPath(layer.Digest)))
        {
            try
            {
                await EstargzReader.OpenAsync(blob, tocDigest, cancellationToken: cancellationToken);
            }
            catch (Exception e) when (e is EstargzFormatException or DigestMismatchException)
            {
                return null; // The annotations lie or the blob is not eStargz: convert it.
            }
        }
        await using (var stream = source.OpenBlob(layer.Digest))
        {
            await target.WriteBlobAsync(layer.MediaType, stream, layer.Digest, cancellationToken);
        }
        var diffId = await DiffIdOfKeptLayerAsync(layer, cancellationToken);
        return new LayerConversion(layer.Digest, layer.Digest, layer.Size, layer.Size, tocDigest, diffId, uncompressedSize, Converted: false, Seconds: 0);
    }

    // A kept layer's diff_id is the digest of its uncompressed stream; gunzip once to learn it.
    private async Task<Digest> DiffIdOfKeptLayerAsync(Descriptor layer, CancellationToken cancellationToken)
    {
        await using var stream = source.OpenBlob(layer.Digest);
        await using var gzip = new System.IO.Compression.GZipStream(stream, System.IO.Compression.CompressionMode.Decompress);
        return await Digest.ComputeAsync(gzip, cancellationToken);
    }

    private static Dictionary<string, string> WithEstargzAnnotations(IReadOnlyDictionary<string, string>? original, LayerConversion result)
    {
        var annotations = original is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(original, StringComparer.Ordinal);
        annotations[Annotations.TocDigest] = result.TocDigest.Value;
        annotations[Annotations.UncompressedSize] = result.UncompressedSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return annotations;
    }

    private bool Wanted(Platform platform) => platforms.Count == 0 || platforms.Any(p => p.Matches(platform));
}
