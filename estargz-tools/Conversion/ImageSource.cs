using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>Where the images to convert are read from: an OCI image layout, or a registry.</summary>
internal interface IImageSource
{
    /// <summary>The layout directory or the image reference, for messages and the summary.</summary>
    string Name { get; }

    /// <summary>The repository blobs may be mounted from when the target is in the same registry; null for a layout.</summary>
    ImageReference? Repository { get; }

    /// <summary>The documents to convert: the entries of index.json, or the one manifest or index a reference names.</summary>
    Task<IReadOnlyList<Descriptor>> ReadRootsAsync(CancellationToken cancellationToken);

    /// <summary>A manifest, index or config, verified against its digest.</summary>
    Task<byte[]> ReadDocumentAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>Random access to a layer blob, for the eStargz check of a layer that may be kept as it is.</summary>
    IBlobSource OpenRanged(Descriptor layer);

    /// <summary>The whole layer blob as a local file of the descriptor's size (the converter checks its digest as it reads it).</summary>
    Task<LocalBlob> FetchAsync(Descriptor layer, IProgress<long>? progress, CancellationToken cancellationToken);
}

/// <summary>A blob in a local file; a temporary one is deleted on dispose.</summary>
internal sealed record LocalBlob(string Path, bool Temporary) : IDisposable
{
    public void Dispose()
    {
        if (Temporary)
        {
            File.Delete(Path);
        }
    }
}
