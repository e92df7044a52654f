using System.Buffers;
using System.Text;

namespace Snapshotter.Registry.Blobs;

/// <summary>
/// A buffered reader of an HTTP body with bounded lines (for multipart headers) and exact byte
/// counts (for part payloads). A body that ends early throws <see cref="EndOfStreamException"/>,
/// which callers treat as "cut short" and resume.
/// </summary>
internal sealed class BodyReader(Stream stream, Action onProgress, CancellationToken cancellationToken) : IDisposable
{
    private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 << 10);
    private int _start;
    private int _end;

    /// <summary>A line without its CR LF (or LF); null at the end of the body. Longer lines than <paramref name="maxLength"/> are an error.</summary>
    public async ValueTask<string?> ReadLineAsync(int maxLength)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync().ConfigureAwait(false))
            {
                return line.Length == 0 ? null : line.ToString();
            }
            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf((byte)'\n');
            var take = newline < 0 ? span.Length : newline;
            if (line.Length + take > maxLength)
            {
                throw new InvalidDataException($"a multipart header line is longer than {maxLength} bytes");
            }
            line.Append(Encoding.Latin1.GetString(span[..take]));
            _start += newline < 0 ? take : take + 1;
            if (newline >= 0)
            {
                if (line.Length > 0 && line[^1] == '\r')
                {
                    line.Length--;
                }
                return line.ToString();
            }
        }
    }

    /// <summary>Passes exactly <paramref name="count"/> bytes to <paramref name="sink"/>, in pieces, with their running position.</summary>
    public async ValueTask CopyExactAsync(long count, long position, Action<long, ReadOnlyMemory<byte>> sink)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync().ConfigureAwait(false))
            {
                throw new EndOfStreamException($"the body ended {count} bytes early");
            }
            var take = (int)Math.Min(count, _end - _start);
            sink(position, _buffer.AsMemory(_start, take));
            _start += take;
            position += take;
            count -= take;
        }
    }

    /// <summary>Passes bytes until the body ends or <paramref name="stopAt"/> is reached; returns the position reached.</summary>
    public async ValueTask<long> CopyToEndAsync(long position, long stopAt, Action<long, ReadOnlyMemory<byte>> sink)
    {
        while (position < stopAt)
        {
            if (_start == _end && !await FillAsync().ConfigureAwait(false))
            {
                return position;
            }
            var take = _end - _start;
            sink(position, _buffer.AsMemory(_start, take));
            _start += take;
            position += take;
        }
        return position;
    }

    public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);

    private async ValueTask<bool> FillAsync()
    {
        _start = 0;
        _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
        if (_end > 0)
        {
            onProgress();
        }
        return _end > 0;
    }
}
