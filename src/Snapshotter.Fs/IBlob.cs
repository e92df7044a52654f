using Microsoft.Win32.SafeHandles;
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
}

/// <summary>A layer blob in a local file, read with positional reads (thread-safe).</summary>
public sealed class FileBlob : IBlob, IDisposable
{
    private readonly SafeFileHandle _handle;

    public FileBlob(string path, Digest digest)
    {
        ArgumentNullException.ThrowIfNull(path);
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous | FileOptions.RandomAccess);
        Size = RandomAccess.GetLength(_handle);
        Digest = digest;
    }

    public Digest Digest { get; }

    public long Size { get; }

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset < 0 || offset > Size || destination.Length > Size - offset)
        {
            throw new EndOfStreamException($"read of {destination.Length} bytes at {offset} is outside the blob of {Size} bytes");
        }
        while (!destination.IsEmpty)
        {
            var read = await RandomAccess.ReadAsync(_handle, destination, offset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException($"blob file ended at {offset}, before the {destination.Length} bytes requested");
            }
            destination = destination[read..];
            offset += read;
        }
    }

    public void Dispose() => _handle.Dispose();
}
