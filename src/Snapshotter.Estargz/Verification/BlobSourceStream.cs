namespace Snapshotter.Estargz;

/// <summary>
/// Reads a blob source front to back as a stream, in 1 MiB windows, for consumers that need a
/// sequential stream (the gzip decompressor). Synchronous reads block on the source: use it on
/// a worker thread, as the verifier does.
/// </summary>
internal sealed class BlobSourceStream(IBlobSource source, CancellationToken cancellationToken) : Stream
{
    private const int WindowSize = 1 << 20;
    private readonly byte[] _window = new byte[WindowSize];
    private long _windowStart;
    private int _windowLength;
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => source.Size;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= source.Size || buffer.IsEmpty)
        {
            return 0;
        }
        if (_position >= _windowStart + _windowLength)
        {
            _windowStart = _position;
            _windowLength = (int)Math.Min(WindowSize, source.Size - _position);
            source.ReadAsync(_windowStart, _window.AsMemory(0, _windowLength), cancellationToken).AsTask().GetAwaiter().GetResult();
        }
        var offset = (int)(_position - _windowStart);
        var n = Math.Min(buffer.Length, _windowLength - offset);
        _window.AsSpan(offset, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
