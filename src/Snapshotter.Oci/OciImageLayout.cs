using System.Text.Json;

namespace Snapshotter.Oci;

/// <summary>
/// An OCI image layout directory: <c>oci-layout</c>, <c>index.json</c> and
/// <c>blobs/sha256/&lt;hex&gt;</c>. Blobs are written to a temporary file, hashed as they are
/// written and renamed into place, so a reader never sees a partial blob.
/// </summary>
public sealed class OciImageLayout
{
    public const string LayoutVersion = "1.0.0";
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    private const string LayoutFile = "oci-layout";
    private const string IndexFile = "index.json";

    private OciImageLayout(string root) => Root = root;

    public string Root { get; }

    /// <summary>Creates the layout at <paramref name="root"/> (or opens it if it already is one).</summary>
    public static async Task<OciImageLayout> CreateAsync(string root, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(Path.Combine(root, "blobs", Digest.Sha256Algorithm));
        var layout = new OciImageLayout(Path.GetFullPath(root));
        if (!File.Exists(Path.Combine(root, LayoutFile)))
        {
            await WriteAtomicAsync(Path.Combine(root, LayoutFile),
                JsonSerializer.SerializeToUtf8Bytes(new OciLayoutFile { ImageLayoutVersion = LayoutVersion }, OciJsonContext.Default.OciLayoutFile),
                cancellationToken).ConfigureAwait(false);
        }
        if (!File.Exists(Path.Combine(root, IndexFile)))
        {
            await layout.WriteIndexAsync(new ImageIndex { Manifests = [] }, cancellationToken).ConfigureAwait(false);
        }
        return await OpenAsync(root, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens an existing layout, checking its <c>oci-layout</c> version.</summary>
    public static async Task<OciImageLayout> OpenAsync(string root, CancellationToken cancellationToken = default)
    {
        var marker = Path.Combine(root, LayoutFile);
        if (!File.Exists(marker))
        {
            throw new FormatException($"'{root}' is not an OCI image layout: no {LayoutFile} file");
        }
        var bytes = await File.ReadAllBytesAsync(marker, cancellationToken).ConfigureAwait(false);
        var file = OciJson.Deserialize(bytes, OciJsonContext.Default.OciLayoutFile, $"{marker}");
        if (file.ImageLayoutVersion != LayoutVersion)
        {
            throw new FormatException($"{marker}: unsupported imageLayoutVersion '{file.ImageLayoutVersion}', expected {LayoutVersion}");
        }
        return new OciImageLayout(Path.GetFullPath(root));
    }

    public string BlobPath(Digest digest) => Path.Combine(Root, "blobs", digest.Algorithm, digest.Hex);

    public bool HasBlob(Digest digest) => File.Exists(BlobPath(digest));

    /// <summary>Opens a blob for reading; the caller verifies it if it needs to (see <see cref="ReadBlobAsync"/>).</summary>
    public FileStream OpenBlob(Digest digest)
    {
        var path = BlobPath(digest);
        return File.Exists(path)
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true)
            : throw new FileNotFoundException($"blob {digest} is not in the OCI layout {Root}", path);
    }

    /// <summary>Reads a whole blob and verifies its digest.</summary>
    public async Task<byte[]> ReadBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(BlobPath(digest), cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"blob {digest} is not in the OCI layout {Root}", e.FileName, e);
        }
        if (!digest.Matches(bytes))
        {
            throw new DigestMismatchException($"blob in {Root}", digest, Digest.Compute(bytes));
        }
        return bytes;
    }

    /// <summary>Stores <paramref name="content"/> and returns its descriptor.</summary>
    public async Task<Descriptor> WriteBlobAsync(string mediaType, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var descriptor = Descriptor.For(mediaType, content.Span);
        var path = BlobPath(descriptor.Digest);
        if (!File.Exists(path))
        {
            await WriteAtomicAsync(path, content, cancellationToken).ConfigureAwait(false);
        }
        return descriptor;
    }

    /// <summary>
    /// Copies a stream into the layout, hashing it on the way; if <paramref name="expected"/> is given
    /// the blob must match it, or nothing is stored and <see cref="DigestMismatchException"/> is thrown.
    /// </summary>
    public async Task<Descriptor> WriteBlobAsync(string mediaType, Stream content, Digest? expected = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var directory = Path.Combine(Root, "blobs", Digest.Sha256Algorithm);
        var temp = Path.Combine(directory, $".tmp-{Guid.NewGuid():N}");
        try
        {
            long size = 0;
            Digest digest;
            using (var verifier = new DigestVerifier())
            {
                await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                {
                    var buffer = new byte[1 << 16];
                    int read;
                    while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        verifier.Append(buffer.AsSpan(0, read));
                        await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        size += read;
                    }
                    await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                if (expected is { } wanted)
                {
                    verifier.Verify(wanted, $"blob written to {Root}");
                }
                digest = verifier.Current();
            }
            File.Move(temp, BlobPath(digest), overwrite: true);
            return new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public async Task<ImageIndex> ReadIndexAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await File.ReadAllBytesAsync(Path.Combine(Root, IndexFile), cancellationToken).ConfigureAwait(false);
        return ImageIndex.Parse(bytes);
    }

    public Task WriteIndexAsync(ImageIndex index, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(index);
        return WriteAtomicAsync(Path.Combine(Root, IndexFile), index.ToJsonBytes(), cancellationToken);
    }

    /// <summary>
    /// Stores a manifest or index document and lists it in <c>index.json</c>, replacing an entry with
    /// the same <paramref name="refName"/> (annotation <c>org.opencontainers.image.ref.name</c>).
    /// </summary>
    public async Task<Descriptor> AddManifestAsync(string mediaType, ReadOnlyMemory<byte> document, string? refName = null, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        var descriptor = await WriteBlobAsync(mediaType, document, cancellationToken).ConfigureAwait(false);
        if (platform is not null)
        {
            descriptor = descriptor with { Platform = platform };
        }
        if (refName is not null)
        {
            descriptor = descriptor.WithAnnotation(RefNameAnnotation, refName);
        }
        var index = await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        var kept = index.Manifests.Where(m => refName is null
            ? m.Digest != descriptor.Digest
            : m.Annotation(RefNameAnnotation) != refName);
        await WriteIndexAsync(index with { Manifests = [.. kept, descriptor] }, cancellationToken).ConfigureAwait(false);
        return descriptor;
    }

    /// <summary>The <c>index.json</c> entry whose ref name is <paramref name="refName"/>, or the only entry when it is null.</summary>
    public async Task<Descriptor> FindManifestAsync(string? refName = null, CancellationToken cancellationToken = default)
    {
        var index = await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
        if (refName is null)
        {
            return index.Manifests.Count == 1
                ? index.Manifests[0]
                : throw new InvalidOperationException($"the OCI layout {Root} lists {index.Manifests.Count} manifests; name one");
        }
        return index.Manifests.FirstOrDefault(m => m.Annotation(RefNameAnnotation) == refName)
            ?? throw new KeyNotFoundException($"the OCI layout {Root} has no manifest named '{refName}'");
    }

    private static async Task WriteAtomicAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var temp = Path.Combine(Path.GetDirectoryName(path)!, $".tmp-{Guid.NewGuid():N}");
        try
        {
            await File.WriteAllBytesAsync(temp, content, cancellationToken).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
