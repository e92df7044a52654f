using System.Text.Json.Serialization;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>Where converted images are written: an OCI image layout, or a registry repository and tag.</summary>
internal interface IImageTarget
{
    string Name { get; }

    /// <summary>A directory for converted blobs before they are stored (a layout's own, so storing is a rename).</summary>
    string StagingDirectory { get; }

    /// <summary>
    /// Stores a blob unless the target has it already. <paramref name="content"/> is called only
    /// when bytes must be sent; <paramref name="origin"/>, when set, is a repository of the same
    /// registry the blob may be mounted from instead.
    /// </summary>
    Task<BlobStore> StoreBlobAsync(Descriptor blob, Func<CancellationToken, Task<LocalBlob>> content, ImageReference? origin, CancellationToken cancellationToken);

    /// <summary>Stores a config, manifest or index by digest and returns its descriptor.</summary>
    Task<Descriptor> StoreDocumentAsync(string mediaType, byte[] document, CancellationToken cancellationToken);

    /// <summary>Names the converted roots: index.json of a layout, or the tag of a registry reference.</summary>
    Task FinishAsync(IReadOnlyList<ConvertedDocument> roots, CancellationToken cancellationToken);
}

/// <summary>How a blob reached the target.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BlobStore>))]
internal enum BlobStore
{
    /// <summary>Its bytes were written or uploaded.</summary>
    [JsonStringEnumMemberName("stored")]
    Stored,

    /// <summary>The target had it already.</summary>
    [JsonStringEnumMemberName("skipped")]
    Skipped,

    /// <summary>The registry linked it from the source repository without an upload.</summary>
    [JsonStringEnumMemberName("mounted")]
    Mounted,
}

/// <summary>A converted manifest or index: its descriptor (with the source's platform and annotations) and bytes.</summary>
internal sealed record ConvertedDocument(Descriptor Descriptor, byte[] Bytes);
