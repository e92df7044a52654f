using System.Buffers;

namespace Snapshotter.Cache.Memory;

/// <summary>
/// A chunk's bytes in a pooled buffer, reference counted so the memory tier can evict it while a
/// reader is still copying from it: the buffer goes back to the pool when the last holder (the
/// tier or a reader) releases it, never under a reader. The count starts at one, the creator's.
/// </summary>
internal sealed class PooledChunk
{
    private readonly MemoryTier _tier;
    private byte[] _buffer;
    private int _references = 1;

    public PooledChunk(MemoryTier tier, int length)
    {
        _tier = tier;
        _buffer = ArrayPool<byte>.Shared.Rent(length);
        Length = length;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    /// <summary>For filling it, before it is shared.</summary>
    public Memory<byte> WritableMemory => _buffer.AsMemory(0, Length);

    /// <summary>Takes a reference unless the chunk has already been released for good.</summary>
    public bool TryAcquire()
    {
        var count = Volatile.Read(ref _references);
        while (count > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, count + 1, count);
            if (seen == count)
            {
                return true;
            }
            count = seen;
        }
        return false;
    }

    public void Release()
    {
        var remaining = Interlocked.Decrement(ref _references);
        if (remaining == 0)
        {
            var buffer = _buffer;
            _buffer = [];
            ArrayPool<byte>.Shared.Return(buffer);
            _tier.Returned(Length);
        }
        else if (remaining < 0)
        {
            throw new InvalidOperationException("a pooled chunk was released more often than acquired");
        }
    }
}
