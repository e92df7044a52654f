using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>Images of an OCI image layout directory, read in place.</summary>
internal sealed class LayoutImageSource(OciImageLayout layout) : IImageSource
{
    public string Name => layout.Root;

    public ImageReference? Repository => null;

    public async Task<IReadOnlyList<Descriptor>> ReadRootsAsync(CancellationToken cancellationToken) =>
        (await layout.ReadIndexAsync(cancellationToken)).Manifests;

    public Task<byte[]> ReadDocumentAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        layout.ReadBlobAsync(descriptor.Digest, cancellationToken);

    public IBlobSource OpenRanged(Descriptor layer) => new FileBlobSource(Existing(layer));

    public Task<LocalBlob> FetchAsync(Descriptor layer, IProgress<long>? progress, CancellationToken cancellationToken) =>
        Task.FromResult(new LocalBlob(Existing(layer), Temporary: false));

    private string Existing(Descriptor layer)
    {
        var path = layout.BlobPath(layer.Digest);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"layer {layer.Digest} is not in the OCI layout {layout.Root}", path);
        }
        var size = new FileInfo(path).Length;
        return size == layer.Size ? path : throw new FormatException($"layer {layer.Digest} is {size} bytes, its descriptor says {layer.Size}");
    }
}

/// <summary>
/// A new OCI image layout: blobs are renamed into it from its own staging files (or copied from
/// elsewhere), and index.json lists the converted images, each named by its ref name annotation
/// (<paramref name="defaultRefName"/> for one that has none).
/// </summary>
internal sealed class LayoutImageTarget(OciImageLayout layout, string? defaultRefName) : IImageTarget
{
    public string Name => layout.Root;

    public string StagingDirectory => Path.Combine(layout.Root, "blobs", Digest.Sha256Algorithm);

    public async Task<BlobStore> StoreBlobAsync(Descriptor blob, Func<CancellationToken, Task<LocalBlob>> content, ImageReference? origin, CancellationToken cancellationToken)
    {
        if (layout.HasBlob(blob.Digest))
        {
            return BlobStore.Skipped;
        }
        using var local = await content(cancellationToken);
        if (local.Temporary && Path.GetDirectoryName(Path.GetFullPath(local.Path)) == StagingDirectory)
        {
            File.Move(local.Path, layout.BlobPath(blob.Digest), overwrite: true); // staged by the converter, digest known
            return BlobStore.Stored;
        }
        await using var stream = File.OpenRead(local.Path);
        await layout.WriteBlobAsync(blob.MediaType, stream, blob.Digest, cancellationToken);
        return BlobStore.Stored;
    }

    public Task<Descriptor> StoreDocumentAsync(string mediaType, byte[] document, CancellationToken cancellationToken) =>
        layout.WriteBlobAsync(mediaType, document, cancellationToken);

    public Task FinishAsync(IReadOnlyList<ConvertedDocument> roots, CancellationToken cancellationToken) =>
        layout.WriteIndexAsync(new ImageIndex
        {
            Manifests = roots.Select(r => defaultRefName is null || r.Descriptor.Annotation(OciImageLayout.RefNameAnnotation) is not null
                ? r.Descriptor
                : r.Descriptor.WithAnnotation(OciImageLayout.RefNameAnnotation, defaultRefName)).ToList(),
        }, cancellationToken);
}
