using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>
/// A read-only pass-through stream that reports how many bytes have been read and hashes them,
/// so a source blob is read once for both conversion and its digest.
/// </summary>
internal sealed class HashingProgressStream(Stream inner, IProgress<long>? progress) : Stream
{
    private readonly DigestVerifier _hash = new();
    private long _read;

    /// <summary>Reads what the consumer left unread (tar end blocks, a gzip trailer) and returns the digest of the whole stream.</summary>
    public async Task<Digest> DrainAndDigestAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        while (await ReadAsync(buffer, cancellationToken) > 0)
        {
        }
        return _hash.Current();
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => inner.Length;

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => Count(buffer[..inner.Read(buffer)]);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        return Count(buffer.Span[..read]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }

    private int Count(ReadOnlySpan<byte> read)
    {
        _hash.Append(read);
        _read += read.Length;
        progress?.Report(_read);
        return read.Length;
    }
}
