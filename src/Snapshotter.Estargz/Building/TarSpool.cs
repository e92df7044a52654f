using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace Snapshotter.Estargz;

/// <summary>
/// The uncompressed input tar with random access, so members can be assembled by several
/// compression workers at once and prioritized files can be moved to the front. A seekable
/// uncompressed file or memory stream is used in place; anything else (gzip, pipes) is first
/// copied to a temporary file that is deleted on dispose.
/// </summary>
internal abstract class TarSpool : TarSource, IDisposable
{
    private static ReadOnlySpan<byte> GzipMagic => [0x1f, 0x8b, 0x08];

    public abstract long Length { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; safe to call concurrently.</summary>
    public abstract void Read(long offset, Span<byte> destination);

    public override int ReadAtMost(long position, Span<byte> destination)
    {
        var available = (int)Math.Clamp(Length - position, 0, destination.Length);
        Read(position, destination[..available]);
        return available;
    }

    public void Dispose()
    {
        ReleaseResources();
        GC.SuppressFinalize(this);
    }

    protected virtual void ReleaseResources()
    {
    }

    public static async Task<TarSpool> CreateAsync(Stream input, string? tempDirectory, CancellationToken cancellationToken)
    {
        var head = new byte[GzipMagic.Length];
        var headLength = await input.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        var isGzip = headLength == head.Length && head.AsSpan().SequenceEqual(GzipMagic);
        var rewound = false;
        if (!isGzip && input.CanSeek)
        {
            input.Seek(-headLength, SeekOrigin.Current);
            rewound = true;
            if (input is MemoryStream memory && memory.TryGetBuffer(out var buffer))
            {
                var start = (int)memory.Position;
                return new MemorySpool(buffer.AsMemory(start, (int)memory.Length - start));
            }
            if (input is FileStream file)
            {
                return new FileSpool(file.SafeFileHandle, file.Position, file.Length - file.Position, owned: null);
            }
        }
        var spoolPath = Path.Combine(tempDirectory ?? Path.GetTempPath(), $"estargz-spool-{Guid.NewGuid():N}.tar");
        var spool = new FileStream(spoolPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            var prefixed = new PrefixedStream(head.AsMemory(0, headLength), input, rewound);
            var source = isGzip ? new GZipStream(prefixed, CompressionMode.Decompress) : (Stream)prefixed;
            await using (source.ConfigureAwait(false))
            {
                await source.CopyToAsync(spool, 1 << 20, cancellationToken).ConfigureAwait(false);
            }
            await spool.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            await spool.DisposeAsync().ConfigureAwait(false);
            throw new EstargzFormatException($"the input looks gzip-compressed but does not decompress: {e.Message}", e);
        }
        catch
        {
            await spool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new FileSpool(spool.SafeFileHandle, 0, spool.Length, owned: spool);
    }

    private sealed class MemorySpool(ReadOnlyMemory<byte> tar) : TarSpool
    {
        public override long Length => tar.Length;

        public override void Read(long offset, Span<byte> destination) =>
            tar.Span.Slice(checked((int)offset), destination.Length).CopyTo(destination);
    }

    private sealed class FileSpool(SafeFileHandle handle, long start, long length, FileStream? owned) : TarSpool
    {
        public override long Length => length;

        public override void Read(long offset, Span<byte> destination)
        {
            while (!destination.IsEmpty)
            {
                var read = RandomAccess.Read(handle, destination, start + offset);
                if (read == 0)
                {
                    throw new EndOfStreamException("the spooled tar ended early");
                }
                destination = destination[read..];
                offset += read;
            }
        }

        protected override void ReleaseResources() => owned?.Dispose();
    }

    /// <summary>Replays the bytes read to sniff the format, then the rest of the input (which it does not own).</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner, bool seekedBack) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = seekedBack ? ReadOnlyMemory<byte>.Empty : prefix;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (!_prefix.IsEmpty)
            {
                return TakePrefix(buffer);
            }
            return inner.Read(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_prefix.IsEmpty)
            {
                return TakePrefix(buffer.Span);
            }
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int TakePrefix(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
