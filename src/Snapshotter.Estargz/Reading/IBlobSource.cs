using Microsoft.Win32.SafeHandles;

namespace Snapshotter.Estargz;

/// <summary>Random access to the bytes of one layer blob (a local file, a cache, or ranged registry reads).</summary>
public interface IBlobSource
{
    /// <summary>Size of the blob in bytes.</summary>
    long Size { get; }

    /// <summary>
    /// Fills <paramref name="destination"/> exactly with the bytes at <paramref name="offset"/>;
    /// throws (e.g. <see cref="EndOfStreamException"/>) if the blob ends first. May be called concurrently.
    /// </summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);
}

/// <summary>A blob in a local file, read with positional reads (safe to call concurrently).</summary>
public sealed class FileBlobSource : IBlobSource, IDisposable
{
    private readonly SafeFileHandle _handle;

    public FileBlobSource(string path)
    {
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous | FileOptions.RandomAccess);
        Size = RandomAccess.GetLength(_handle);
    }

    public long Size { get; }

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        BlobSourceBounds.Check(offset, destination.Length, Size);
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

/// <summary>A blob in a seekable stream; reads are serialised because a stream has one position.</summary>
public sealed class StreamBlobSource : IBlobSource, IDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly SemaphoreSlim _lock = new(1, 1);

    public StreamBlobSource(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek || !stream.CanRead)
        {
            throw new ArgumentException("the stream must be readable and seekable", nameof(stream));
        }
        _stream = stream;
        _leaveOpen = leaveOpen;
        Size = stream.Length;
    }

    public long Size { get; }

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        BlobSourceBounds.Check(offset, destination.Length, Size);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _stream.Position = offset;
            await _stream.ReadExactlyAsync(destination, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose()
    {
        _lock.Dispose();
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }
}

/// <summary>A blob held in memory: tests, benchmarks, and small layers already downloaded.</summary>
public sealed class MemoryBlobSource(ReadOnlyMemory<byte> blob) : IBlobSource
{
    public long Size => blob.Length;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        BlobSourceBounds.Check(offset, destination.Length, Size);
        blob.Span.Slice((int)offset, destination.Length).CopyTo(destination.Span);
        return ValueTask.CompletedTask;
    }
}

internal static class BlobSourceBounds
{
    public static void Check(long offset, int length, long size)
    {
        if (offset < 0 || offset > size || length > size - offset)
        {
            throw new EndOfStreamException($"read of {length} bytes at {offset} is outside the blob of {size} bytes");
        }
    }
}
