using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// The compressed bytes of one layer blob, as the file system fetches them: reads of whole
/// chunk members (<see cref="EstargzChunk.CompressedOffset"/>, <see cref="EstargzChunk.CompressedLength"/>),
/// possibly concurrent. A local file now; a registry-backed blob (ranged GETs, merged and
/// deduplicated) and a cache-backed one slot in behind the same interface. It is also the
/// <see cref="IBlobSource"/> the <see cref="EstargzReader"/> reads the footer and TOC from.
/// </summary>
public interface IBlob : IBlobSource
{
    /// <summary>The blob's content digest (the layer digest), for logs and the status file.</summary>
    Digest Digest { get; }

    /// <summary>
    /// Reads like <see cref="IBlobSource.ReadAsync"/>, telling <paramref name="filled"/> as bytes arrive
    /// how many from the start of <paramref name="destination"/> are in place, so the members at the
    /// front of a long request are used before its end arrives. Quick callbacks only: they run on
    /// the reading thread. This default tells once, at the end.
    /// </summary>
    async ValueTask ReadAsync(long offset, Memory<byte> destination, Action<int> filled, CancellationToken cancellationToken)
    {
        await ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        filled(destination.Length);
    }
}

/// <summary>A layer blob in a local file: the format library's positional file reader, plus the layer digest.</summary>
public sealed class FileBlob : IBlob, IDisposable
{
    private readonly FileBlobSource _file;

    public FileBlob(string path, Digest digest)
    {
        ArgumentNullException.ThrowIfNull(path);
        _file = new FileBlobSource(path);
        Digest = digest;
    }

    public Digest Digest { get; }

    public long Size => _file.Size;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        _file.ReadAsync(offset, destination, cancellationToken);

    public void Dispose() => _file.Dispose();
}
