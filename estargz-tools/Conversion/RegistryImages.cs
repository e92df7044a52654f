using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Estargz.Tools.Conversion;

/// <summary>The image (or index of images) a registry reference names; layers are downloaded to temporary files.</summary>
internal sealed class RegistryImageSource(IRegistryClient registry, ImageReference reference, string temporaryDirectory) : IImageSource
{
    private ManifestContent? _root;

    public string Name => reference.ToString();

    public ImageReference? Repository => reference;

    public async Task<IReadOnlyList<Descriptor>> ReadRootsAsync(CancellationToken cancellationToken)
    {
        _root = await registry.GetManifestAsync(reference, cancellationToken);
        return [_root.Descriptor];
    }

    public async Task<byte[]> ReadDocumentAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (_root is { } root && root.Digest == descriptor.Digest)
        {
            return root.Bytes;
        }
        return MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType)
            ? (await registry.GetManifestAsync(reference.WithDigest(descriptor.Digest), cancellationToken)).Bytes
            : await registry.GetBlobAsync(reference, descriptor, cancellationToken);
    }

    public IBlobSource OpenRanged(Descriptor layer) => new RangedBlobSource(registry.OpenBlob(reference, layer));

    public async Task<LocalBlob> FetchAsync(Descriptor layer, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var local = new LocalBlob(Path.Combine(temporaryDirectory, $"estargz-{layer.Digest.Hex[..16]}-{Guid.NewGuid():N}"), Temporary: true);
        try
        {
            await using var file = new FileStream(local.Path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
            await using var counted = new ProgressWriteStream(file, progress);
            await registry.CopyBlobAsync(reference, layer, counted, cancellationToken);
            return local;
        }
        catch
        {
            local.Dispose();
            throw;
        }
    }

    /// <summary>Ranged registry reads as the eStargz reader wants them.</summary>
    private sealed class RangedBlobSource(IRangedBlob blob) : IBlobSource
    {
        public long Size => blob.Size;

        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            if (offset < 0 || offset > Size || destination.Length > Size - offset)
            {
                throw new EndOfStreamException($"blob {blob.Digest}: {destination.Length} bytes at {offset} are past its end ({Size} bytes)");
            }
            if (!destination.IsEmpty)
            {
                await blob.ReadAsync([new BlobRange(offset, destination)], cancellationToken);
            }
        }
    }
}

/// <summary>
/// A registry repository and tag: blobs it has are skipped (HEAD), blobs of a repository in the
/// same registry are mounted, others uploaded; manifests are pushed by digest, the root under the tag.
/// </summary>
internal sealed class RegistryImageTarget(IRegistryPusher registry, ImageReference reference, string temporaryDirectory) : IImageTarget
{
    public string Name => reference.ToString();

    public string StagingDirectory => temporaryDirectory;

    public async Task<BlobStore> StoreBlobAsync(Descriptor blob, Func<CancellationToken, Task<LocalBlob>> content, ImageReference? origin, CancellationToken cancellationToken)
    {
        if (await registry.BlobExistsAsync(reference, blob.Digest, cancellationToken))
        {
            return BlobStore.Skipped;
        }
        if (origin is not null && origin.Registry == reference.Registry && origin.Repository != reference.Repository &&
            await registry.MountBlobAsync(reference, blob.Digest, origin.Repository, cancellationToken))
        {
            return BlobStore.Mounted;
        }
        using var local = await content(cancellationToken);
        var result = await registry.PushBlobAsync(reference, blob, () => File.OpenRead(local.Path), cancellationToken: cancellationToken);
        return result == BlobPushResult.Existed ? BlobStore.Skipped : BlobStore.Stored;
    }

    public async Task<Descriptor> StoreDocumentAsync(string mediaType, byte[] document, CancellationToken cancellationToken)
    {
        var descriptor = Descriptor.For(mediaType, document);
        if (MediaTypes.IsManifest(mediaType) || MediaTypes.IsIndex(mediaType))
        {
            await registry.PushManifestAsync(reference.WithDigest(descriptor.Digest), mediaType, document, cancellationToken);
        }
        else
        {
            await registry.PushBlobAsync(reference, descriptor, () => new MemoryStream(document, writable: false), cancellationToken: cancellationToken);
        }
        return descriptor;
    }

    public async Task FinishAsync(IReadOnlyList<ConvertedDocument> roots, CancellationToken cancellationToken)
    {
        if (roots.Count != 1)
        {
            throw new FormatException($"{roots.Count} images to push to {reference}; a registry tag names one (convert one image of the layout, or a multi-platform index)");
        }
        await registry.PushManifestAsync(reference, roots[0].Descriptor.MediaType, roots[0].Bytes, cancellationToken);
    }
}
