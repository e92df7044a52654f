namespace Snapshotter.Estargz;

/// <summary>Bytes of an uncompressed tar stream by position, for <see cref="TarScanner"/>.</summary>
internal abstract class TarSource
{
    /// <summary>Reads up to <paramref name="destination"/>.Length bytes at <paramref name="position"/>; fewer only at the end of the stream.</summary>
    public abstract int ReadAtMost(long position, Span<byte> destination);
}

/// <summary>
/// A tar stream read front to back (e.g. through a gzip decompressor): positions must never go
/// backwards; bytes nobody asked for are skipped.
/// </summary>
internal sealed class ForwardTarSource(Stream stream) : TarSource
{
    private long _position;

    public override int ReadAtMost(long position, Span<byte> destination)
    {
        if (position < _position)
        {
            throw new InvalidOperationException($"a forward-only tar source cannot go back from {_position} to {position}");
        }
        Skip(position - _position);
        var total = 0;
        while (total < destination.Length)
        {
            var read = stream.Read(destination[total..]);
            if (read == 0)
            {
                break;
            }
            total += read;
        }
        _position += total;
        return total;
    }

    private void Skip(long count)
    {
        Span<byte> discard = stackalloc byte[4096];
        while (count > 0)
        {
            var read = stream.Read(discard[..(int)Math.Min(count, discard.Length)]);
            if (read == 0)
            {
                return; // the next read reports the end
            }
            count -= read;
            _position += read;
        }
    }
}
