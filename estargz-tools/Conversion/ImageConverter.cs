using System.Diagnostics;
using System.Globalization;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>
/// Converts every image of a source (all platforms of an index, or the selected ones) into images
/// whose layers are eStargz: manifests carry the TOC digest and uncompressed size annotations,
/// configs get the new diff_ids, indexes point at the new manifests. Layers that already are
/// eStargz with both annotations are kept (unless forced, or given prioritized files); a layer
/// shared by several manifests is converted once. Blobs are stored before the documents that name
/// them, and the roots are named last, so a failure never leaves a tag pointing at missing content.
/// </summary>
internal sealed class ImageConverter(
    IImageSource source,
    IImageTarget target,
    ImageConversionOptions options,
    ConversionProgress progress)
{
    private readonly Dictionary<(Digest, string), LayerConversion> _layers = [];
    private readonly List<ManifestConversion> _manifests = [];

    public async Task<ImageConversion> ConvertAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var converted = new List<ConvertedDocument>();
        foreach (var descriptor in await source.ReadRootsAsync(cancellationToken))
        {
            if (await ConvertDescriptorAsync(descriptor, cancellationToken) is { } result)
            {
                converted.Add(result);
            }
        }
        if (converted.Count == 0)
        {
            throw new FormatException($"no image in {source.Name} matches the platforms {string.Join(", ", options.Platforms)}");
        }
        await target.FinishAsync(converted, cancellationToken);
        return new ImageConversion(source.Name, target.Name, converted.Count == 1 ? converted[0].Descriptor.Digest : null,
            LayerCounts.Of(_manifests), _manifests, stopwatch.Elapsed.TotalSeconds);
    }

    /// <summary>The converted document (annotations and platform kept), or null when the platform filter drops it.</summary>
    private async Task<ConvertedDocument?> ConvertDescriptorAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var document = await source.ReadDocumentAsync(descriptor, cancellationToken);
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
        return written is null ? null : written with
        {
            Descriptor = written.Descriptor with { Annotations = descriptor.Annotations, Platform = descriptor.Platform, Extra = descriptor.Extra },
        };
    }

    private async Task<ConvertedDocument?> ConvertIndexAsync(Descriptor descriptor, ImageIndex index, CancellationToken cancellationToken)
    {
        var children = new List<Descriptor>();
        foreach (var child in index.Manifests)
        {
            if (await ConvertDescriptorAsync(child, cancellationToken) is { } converted)
            {
                children.Add(converted.Descriptor);
            }
        }
        if (children.Count == 0)
        {
            return null;
        }
        var bytes = (index with { MediaType = MediaTypes.OciIndex, Manifests = children }).ToJsonBytes();
        var written = await target.StoreDocumentAsync(MediaTypes.OciIndex, bytes, cancellationToken);
        return new ConvertedDocument(written with { Annotations = descriptor.Annotations, Platform = descriptor.Platform }, bytes);
    }

    /// <summary>The new manifest, or null when its config's platform is filtered out.</summary>
    private async Task<ConvertedDocument?> ConvertManifestAsync(Digest digest, ImageManifest manifest, CancellationToken cancellationToken)
    {
        var config = ImageConfig.Parse(await source.ReadDocumentAsync(manifest.Config, cancellationToken));
        if (config.Platform is { } platform && !Wanted(platform))
        {
            return null;
        }
        if (config.DiffIds.Count != manifest.Layers.Count)
        {
            throw new FormatException($"manifest {digest} has {manifest.Layers.Count} layers but its config lists {config.DiffIds.Count} diff_ids");
        }
        var layers = new List<Descriptor>(manifest.Layers.Count);
        var results = new List<LayerConversion>(manifest.Layers.Count);
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i];
            if (MediaTypes.IsNondistributable(layer.MediaType))
            {
                throw new FormatException($"layer {layer.Digest} is non-distributable ({layer.MediaType}); it cannot be converted");
            }
            var priorities = options.Priorities?.Invoke(digest, i) ?? new LayerPriorities(options.Build.PrioritizedFiles, options.Build.PrioritizedReads);
            var result = await ConvertLayerAsync(layer, config.DiffIds[i], priorities, cancellationToken);
            results.Add(result);
            layers.Add(new Descriptor
            {
                MediaType = Annotations.LayerMediaType(result.Format),
                Digest = result.Target,
                Size = result.TargetSize,
                Urls = layer.Urls,
                Annotations = WithEstargzAnnotations(layer.Annotations, result),
            });
        }
        config.DiffIds = results.Select(r => r.DiffId).ToList();
        var configBytes = config.ToJsonBytes();
        var configDescriptor = await target.StoreDocumentAsync(MediaTypes.OciConfig, configBytes, cancellationToken);
        var bytes = (manifest with
        {
            MediaType = MediaTypes.OciManifest,
            Config = configDescriptor with { Annotations = manifest.Config.Annotations },
            Layers = layers,
        }).ToJsonBytes();
        var written = await target.StoreDocumentAsync(MediaTypes.OciManifest, bytes, cancellationToken);
        _manifests.Add(new ManifestConversion(digest, written.Digest, config.Platform?.ToString(), results));
        return new ConvertedDocument(written, bytes);
    }

    private async Task<LayerConversion> ConvertLayerAsync(Descriptor layer, Digest diffId, LayerPriorities priorities, CancellationToken cancellationToken)
    {
        var prioritized = priorities.Files;
        var key = (layer.Digest, priorities.Key);
        if (_layers.TryGetValue(key, out var done))
        {
            return done;
        }
        var keep = !options.Force && prioritized.Count == 0 ? await KeepIfAlreadyEstargzAsync(layer, diffId, cancellationToken) : null;
        var result = keep ?? await ConvertAsync(layer, options.Build with { PrioritizedFiles = prioritized, PrioritizedReads = priorities.Reads }, cancellationToken);
        _layers[key] = result;
        return result;
    }

    private async Task<LayerConversion> ConvertAsync(Descriptor layer, EstargzBuildOptions build, CancellationToken cancellationToken)
    {
        LayerConversion result;
        var staging = Path.Combine(target.StagingDirectory, $".convert-{layer.Digest.Hex}-{Guid.NewGuid():N}");
        try
        {
            using (var task = progress.StartLayer(layer))
            using (var blob = await source.FetchAsync(layer, task.Phase("fetch"), cancellationToken))
            {
                result = await LayerConverter.ConvertFileAsync(blob.Path, staging, layer.MediaType, build, task.Phase("convert"), cancellationToken);
            }
            if (result.Source != layer.Digest)
            {
                throw new DigestMismatchException($"layer blob {layer.Digest} of {source.Name}", layer.Digest, result.Source);
            }
            var converted = new Descriptor { MediaType = Annotations.LayerMediaType(result.Format), Digest = result.Target, Size = result.TargetSize };
            var stored = await target.StoreBlobAsync(converted, _ => Task.FromResult(new LocalBlob(staging, Temporary: true)), origin: null, cancellationToken);
            progress.Stored(converted, stored);
            return result with { Store = stored };
        }
        finally
        {
            File.Delete(staging);
        }
    }

    /// <summary>A layer that is already in the wanted format (eStargz, or zstd:chunked) with both annotations is stored as it is.</summary>
    private async Task<LayerConversion?> KeepIfAlreadyEstargzAsync(Descriptor layer, Digest diffId, CancellationToken cancellationToken)
    {
        if (layer.Annotation(Annotations.TocDigest) is not { } tocText || !Digest.TryParse(tocText, out var tocDigest) ||
            layer.Annotation(Annotations.UncompressedSize) is not { } sizeText ||
            !long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var uncompressedSize))
        {
            return null;
        }
        var blob = source.OpenRanged(layer);
        EstargzFormat format;
        try
        {
            format = (await EstargzReader.OpenAsync(blob, tocDigest, cancellationToken: cancellationToken)).Format;
        }
        catch (Exception e) when (e is EstargzFormatException or DigestMismatchException)
        {
            return null; // The annotations lie or the blob is not eStargz: convert it.
        }
        finally
        {
            (blob as IDisposable)?.Dispose();
        }
        if ((format == EstargzFormat.ZstdChunked) != (options.Build.Format == EstargzFormat.ZstdChunked))
        {
            return null; // eStargz asked for zstd:chunked, or the other way round: convert it.
        }
        var stored = await target.StoreBlobAsync(layer, cancellationToken => source.FetchAsync(layer, progress: null, cancellationToken), source.Repository, cancellationToken);
        progress.Stored(layer, stored);
        return new LayerConversion(layer.Digest, layer.Digest, layer.Size, layer.Size, tocDigest, diffId, uncompressedSize, Converted: false, Seconds: 0) { Store = stored, Format = format };
    }

    private static Dictionary<string, string> WithEstargzAnnotations(IReadOnlyDictionary<string, string>? original, LayerConversion result)
    {
        var annotations = original is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(original, StringComparer.Ordinal);
        annotations[Annotations.TocDigest] = result.TocDigest.Value;
        annotations[Annotations.UncompressedSize] = result.UncompressedSize.ToString(CultureInfo.InvariantCulture);
        if (result.Converted)
        {
            // A hint or zstd:chunked position the source carried described its old blob.
            annotations.Remove(PrefetchHint.Annotation);
            annotations.Remove(TocOffsetHint.Annotation);
            annotations.Remove(TocOffsetHint.SizeAnnotation);
            annotations.Remove(Annotations.ZstdChunkedChecksum);
            annotations.Remove(Annotations.ZstdChunkedPosition);
            if (result.ZstdChunkedToc is { } toc)
            {
                annotations[Annotations.ZstdChunkedChecksum] = toc.Checksum.Value;
                annotations[Annotations.ZstdChunkedPosition] = toc.Position;
            }
            if (result.PrefetchSpans.Count > 0)
            {
                annotations[PrefetchHint.Annotation] = PrefetchHint.Format(result.PrefetchSpans);
            }
            if (result.TocOffset > 0)
            {
                annotations[TocOffsetHint.Annotation] = TocOffsetHint.Format(result.TocOffset);
                annotations[TocOffsetHint.SizeAnnotation] = TocOffsetHint.Format(result.TargetSize);
            }
        }
        // In key order: the manifest's bytes (and digest) must not depend on which keys were replaced.
        return new Dictionary<string, string>(annotations.OrderBy(a => a.Key, StringComparer.Ordinal), StringComparer.Ordinal);
    }

    private bool Wanted(Platform platform) => options.Platforms.Count == 0 || options.Platforms.Any(p => p.Matches(platform));
}

/// <summary>How <see cref="ImageConverter"/> converts.</summary>
internal sealed record ImageConversionOptions
{
    public required EstargzBuildOptions Build { get; init; }

    /// <summary>Convert only images of these platforms; empty for all.</summary>
    public IReadOnlyList<Platform> Platforms { get; init; } = [];

    /// <summary>Convert layers that already are eStargz too.</summary>
    public bool Force { get; init; }

    /// <summary>
    /// The prioritized files (and recorded reads) of layer <c>i</c> of the manifest with the given
    /// (source) digest; null for <see cref="EstargzBuildOptions.PrioritizedFiles"/>. A layer with
    /// prioritized files is always converted.
    /// </summary>
    public Func<Digest, int, LayerPriorities?>? Priorities { get; init; }
}

/// <summary>A layer's prioritized files, in order, and the byte ranges the workload read (<see cref="EstargzBuildOptions.PrioritizedReads"/>).</summary>
internal sealed record LayerPriorities(IReadOnlyList<string> Files, IReadOnlyDictionary<string, IReadOnlyList<FileRange>>? Reads)
{
    /// <summary>Equal for layers converted alike: an image that repeats a layer converts it once.</summary>
    public string Key => string.Join('\n', Files) + "\0" + (Reads is null ? "" :
        string.Join('\n', Reads.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => r.Key + "=" + string.Join(',', r.Value.Select(v => $"{v.Offset}+{v.Length}")))));
}
