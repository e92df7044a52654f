using System.Buffers;
using Snapshotter.Estargz;

namespace Snapshotter.Fs.Fetching;

/// <summary>
/// The last member of a request that several chunks share (min-chunk-size or prefetch groups),
/// inflated once for all of them: inflating it again for each chunk would cost the member's
/// length per chunk. Members holding one chunk are left to the per-chunk path.
/// </summary>
internal sealed class SharedMember(EstargzReader reader, MemberTable members) : IDisposable
{
    private int _member = -1;
    private byte[]? _buffer;
    private int _length;

    /// <summary>
    /// The inflated front of the member, up to the end of its last chunk; null when it holds one
    /// chunk, is larger than any chunk may be, or does not inflate (each chunk then fails on its own, logged).
    /// </summary>
    public ReadOnlyMemory<byte>? Inflate(int member, ReadOnlySpan<byte> compressed)
    {
        if (member == _member)
        {
            return _buffer?.AsMemory(0, _length);
        }
        _member = member;
        Release();
        var chunks = members.Chunks(member);
        if (chunks.Length < 2)
        {
            return null;
        }
        long end = 0;
        foreach (var chunk in chunks)
        {
            end = Math.Max(end, chunk.Chunk.InnerOffset + chunk.Chunk.Size);
        }
        if (end > ChunkReader.MaxChunkSize)
        {
            return null;
        }
        var buffer = ArrayPool<byte>.Shared.Rent((int)end);
        try
        {
            reader.InflateMember(compressed, buffer.AsSpan(0, (int)end));
        }
        catch (EstargzFormatException)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return null;
        }
        (_buffer, _length) = (buffer, (int)end);
        return _buffer.AsMemory(0, _length);
    }

    public void Dispose() => Release();

    private void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
