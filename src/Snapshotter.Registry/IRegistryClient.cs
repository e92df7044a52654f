using Snapshotter.Oci;

namespace Snapshotter.Registry;

/// <summary>
/// The OCI distribution client as the snapshotter sees it: resolve references, fetch manifests and
/// whole blobs (verified against their digests), and open blobs for ranged reads. Every call goes
/// through the registry's hosts configuration (mirrors first, then the origin) with authentication,
/// retries, per-request timeouts and a bound on concurrent requests per host.
/// </summary>
public interface IRegistryClient
{
    /// <summary>
    /// Resolves <c>name:tag</c> or <c>name@digest</c> to one image manifest: HEAD then GET, picking
    /// <paramref name="platform"/> (default: this machine) from an index. Every document is verified
    /// against its digest.
    /// </summary>
    Task<ResolvedImage> ResolveAsync(ImageReference reference, Platform? platform = null, CancellationToken cancellationToken = default);

    /// <summary>Fetches the manifest or index a reference names, verified against its digest, without interpreting it.</summary>
    Task<ManifestContent> GetManifestAsync(ImageReference reference, CancellationToken cancellationToken = default);

    /// <summary>Fetches a small blob (a config, a TOC) whole, verified against its digest and size.</summary>
    Task<byte[]> GetBlobAsync(ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken = default);

    /// <summary>Streams a blob whole into <paramref name="destination"/>, resuming a body that is cut short, and verifies it at the end.</summary>
    Task CopyBlobAsync(ImageReference repository, Descriptor descriptor, Stream destination, CancellationToken cancellationToken = default);

    /// <summary>A reader of byte ranges of one blob; cheap to create, it resolves the blob's location on first use.</summary>
    IRangedBlob OpenBlob(ImageReference repository, Descriptor descriptor);
}

/// <summary>
/// Byte ranges of one registry blob. One <see cref="ReadAsync"/> call is one HTTP request when the
/// registry allows multi-range requests (<c>multipart/byteranges</c>), else one request per range.
/// Bytes are not verified here: the caller checks them (eStargz chunk digests).
/// </summary>
public interface IRangedBlob
{
    Digest Digest { get; }

    long Size { get; }

    /// <summary>Fills each range's buffer with the blob bytes at its offset; the buffer length is the range length.</summary>
    Task ReadAsync(IReadOnlyList<BlobRange> ranges, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="ReadAsync(IReadOnlyList{BlobRange}, CancellationToken)"/>, telling <paramref name="filled"/>
    /// as bytes arrive how many bytes of a range's buffer, from its start, are in place (they only
    /// grow), so a caller can use the front of a long range before its end arrives. It runs on the
    /// thread that reads the body, under a lock: it must be quick and must not call back in.
    /// </summary>
    Task ReadAsync(IReadOnlyList<BlobRange> ranges, Action<BlobRange, int>? filled, CancellationToken cancellationToken = default);

    /// <summary>Checks that the blob is still reachable (a two-byte read), re-resolving its location on failure.</summary>
    Task CheckAsync(CancellationToken cancellationToken = default);
}

/// <summary>One range to read: <see cref="Buffer"/>.Length bytes from <see cref="Offset"/>.</summary>
public readonly record struct BlobRange(long Offset, Memory<byte> Buffer)
{
    public long End => Offset + Buffer.Length;
}

/// <summary>Pushes blobs and manifests (registry-to-registry conversion).</summary>
public interface IRegistryPusher
{
    /// <summary>Whether the repository already has the blob (HEAD), so its upload can be skipped.</summary>
    Task<bool> BlobExistsAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Uploads a blob unless it exists: a cross-repository mount first when <see cref="BlobPushOptions.MountFrom"/>
    /// is set, else POST and a monolithic PUT, or PATCH chunks of <see cref="BlobPushOptions.ChunkSize"/>.
    /// <paramref name="openContent"/> may be called again for a retry.
    /// </summary>
    Task<BlobPushResult> PushBlobAsync(ImageReference repository, Descriptor descriptor, Func<Stream> openContent, BlobPushOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Asks the registry to link a blob of <paramref name="fromRepository"/> (same registry) into
    /// <paramref name="repository"/> without an upload; false when it would not (then nothing changed).
    /// </summary>
    Task<bool> MountBlobAsync(ImageReference repository, Digest digest, string fromRepository, CancellationToken cancellationToken = default);

    /// <summary>PUTs a manifest or index under the reference's tag (or digest) and returns its digest.</summary>
    Task<Digest> PushManifestAsync(ImageReference reference, string mediaType, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>Deletes the manifest <paramref name="reference"/> pins by digest (and so every tag of it); registries may refuse (HTTP 405).</summary>
    Task DeleteManifestAsync(ImageReference reference, CancellationToken cancellationToken = default);
}

/// <summary>What <see cref="IRegistryPusher.PushBlobAsync"/> did.</summary>
public enum BlobPushResult
{
    /// <summary>The repository had the blob already; nothing was sent.</summary>
    Existed,

    /// <summary>The registry linked it from another repository.</summary>
    Mounted,

    Uploaded,
}

public sealed record BlobPushOptions
{
    /// <summary>Another repository of the same registry that may hold the blob already (cross-repository mount).</summary>
    public string? MountFrom { get; init; }

    /// <summary>Upload in PATCH chunks of this many bytes; null uploads in one PUT.</summary>
    public int? ChunkSize { get; init; }
}

/// <summary>A manifest or index document as fetched: media type, verified digest and bytes.</summary>
public sealed record ManifestContent(string MediaType, Digest Digest, byte[] Bytes)
{
    public Descriptor Descriptor => new() { MediaType = MediaType, Digest = Digest, Size = Bytes.Length };
}

/// <summary>The outcome of <see cref="IRegistryClient.ResolveAsync"/>.</summary>
public sealed record ResolvedImage
{
    /// <summary>The reference, pinned to the digest the tag resolved to (the index's digest for a multi-platform image).</summary>
    public required ImageReference Reference { get; init; }

    /// <summary>What the reference names: an index or a manifest.</summary>
    public required Descriptor Target { get; init; }

    /// <summary>The index, when the reference named one.</summary>
    public ImageIndex? Index { get; init; }

    /// <summary>The platform manifest's descriptor (equal to <see cref="Target"/> for a single-platform image).</summary>
    public required Descriptor ManifestDescriptor { get; init; }

    public required ImageManifest Manifest { get; init; }

    /// <summary>The manifest's bytes as served (their sha256 is <see cref="ManifestDescriptor"/>'s digest).</summary>
    public required byte[] ManifestBytes { get; init; }

    /// <summary>The bytes of what the reference names as served: the index's, or <see cref="ManifestBytes"/> for a single manifest.</summary>
    public required byte[] TargetBytes { get; init; }
}
