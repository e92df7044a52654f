using System.Formats.Tar;
using System.Globalization;
using System.Text.Json.Nodes;
using Estargz.Tools.Conversion;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Optimization;

/// <summary>
/// The target of the conversion that <c>estargz optimize</c> runs its workload on: a registry tag
/// whose image gets one extra bottom layer, a lone whiteout of a random name. Nothing in the
/// container changes, but every layer's chain ID does, so containerd and the snapshotter mount each
/// layer afresh and the access logs record this run only (the snapshotter shares a committed
/// layer between namespaces and images with the same chain).
/// </summary>
internal sealed class RecordingImageTarget(IImageTarget inner, string nonce) : IImageTarget
{
    private readonly Dictionary<Digest, byte[]> _documents = [];

    public string Name => inner.Name;

    public string StagingDirectory => inner.StagingDirectory;

    /// <summary>The manifest that was tagged: the extra layer first, then the converted layers in order.</summary>
    public ImageManifest? Manifest { get; private set; }

    /// <summary>Its config (the source's, with the extra diff_id): the image's entrypoint and command.</summary>
    public ImageConfig? Config { get; private set; }

    /// <summary>Its digest, for deleting the tag afterwards (unique, so no other tag can share it).</summary>
    public Digest? ManifestDigest { get; private set; }

    public Task<BlobStore> StoreBlobAsync(Descriptor blob, Func<CancellationToken, Task<LocalBlob>> content, ImageReference? origin, CancellationToken cancellationToken) =>
        inner.StoreBlobAsync(blob, content, origin, cancellationToken);

    public async Task<Descriptor> StoreDocumentAsync(string mediaType, byte[] document, CancellationToken cancellationToken)
    {
        var descriptor = await inner.StoreDocumentAsync(mediaType, document, cancellationToken);
        _documents[descriptor.Digest] = document;
        return descriptor;
    }

    public async Task FinishAsync(IReadOnlyList<ConvertedDocument> roots, CancellationToken cancellationToken)
    {
        var root = roots.Count == 1 ? roots[0] : throw new InvalidOperationException("optimize converts one image");
        var manifestBytes = root.Bytes;
        if (MediaTypes.IsIndex(root.Descriptor.MediaType))
        {
            var children = ImageIndex.Parse(root.Bytes).Manifests;
            manifestBytes = children.Count == 1 ? _documents[children[0].Digest] : throw new FormatException("optimize runs the image of one platform; choose it with --platform");
        }
        var manifest = ImageManifest.Parse(manifestBytes);
        var config = ImageConfig.Parse(_documents[manifest.Config.Digest]);
        Config = config;

        var (layer, blob, diffId) = await UniqueLayerAsync(cancellationToken);
        using (var staged = new LocalBlob(Path.Combine(StagingDirectory, $".estargz-optimize-{nonce}"), Temporary: true))
        {
            await File.WriteAllBytesAsync(staged.Path, blob, cancellationToken);
            await inner.StoreBlobAsync(layer, _ => Task.FromResult(staged), origin: null, cancellationToken);
        }
        config.DiffIds = [diffId, .. config.DiffIds];
        if (config.Json["history"] is JsonArray history)
        {
            history.Insert(0, new JsonObject { ["created_by"] = "estargz optimize: a unique bottom layer so that the recording mounts every layer afresh" });
        }
        var configDescriptor = await inner.StoreDocumentAsync(MediaTypes.OciConfig, config.ToJsonBytes(), cancellationToken);
        Manifest = manifest with { Config = configDescriptor with { Annotations = manifest.Config.Annotations }, Layers = [layer, .. manifest.Layers] };
        var bytes = Manifest.ToJsonBytes();
        var descriptor = await inner.StoreDocumentAsync(MediaTypes.OciManifest, bytes, cancellationToken);
        ManifestDigest = descriptor.Digest;
        await inner.FinishAsync([new ConvertedDocument(descriptor, bytes)], cancellationToken);
    }

    /// <summary>An eStargz layer holding only <c>.wh..estargz-optimize-NONCE</c>: it hides a name nothing has.</summary>
    private async Task<(Descriptor Layer, byte[] Blob, Digest DiffId)> UniqueLayerAsync(CancellationToken cancellationToken)
    {
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, $".wh..estargz-optimize-{nonce}")
            {
                ModificationTime = DateTimeOffset.UnixEpoch,
            }, cancellationToken);
        }
        tar.Position = 0;
        using var blob = new MemoryStream();
        var result = await EstargzBuilder.BuildAsync(tar, blob, EstargzBuildOptions.Default, cancellationToken);
        var descriptor = new Descriptor
        {
            MediaType = MediaTypes.OciLayerGzip,
            Digest = result.BlobDigest,
            Size = result.CompressedSize,
            Annotations = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [Annotations.TocDigest] = result.TocDigest.Value,
                [Annotations.UncompressedSize] = result.UncompressedSize.ToString(CultureInfo.InvariantCulture),
            },
        };
        return (descriptor, blob.ToArray(), result.DiffId);
    }
}
