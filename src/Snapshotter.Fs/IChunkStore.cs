using System.Buffers;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// Where verified, decompressed chunks are kept between reads, keyed by chunk digest (content
/// addressed, so identical chunks of different files or layers share an entry). The bounded
/// in-memory <see cref="MemoryChunkStore"/> now; the on-disk chunk cache replaces it later.
/// Implementations are thread-safe and bounded; only verified data is ever added.
/// </summary>
public interface IChunkStore
{
    /// <summary>
    /// Copies <c>destination.Length</c> bytes from <paramref name="offset"/> of the chunk into
    /// <paramref name="destination"/>; false when the chunk is not held. An empty destination
    /// just asks whether it is.
    /// </summary>
    bool TryCopy(Digest chunk, int offset, Span<byte> destination);

    /// <summary>Offers a whole verified chunk; the store may keep a copy or ignore it.</summary>
    void Add(Digest chunk, ReadOnlySpan<byte> data);
}

/// <summary>
/// The few most recently used chunks, in pooled buffers, bounded by <see cref="CapacityBytes"/>:
/// enough that the kernel's 4 KiB–1 MiB sequential reads of one 4 MiB chunk decompress it once.
/// </summary>
public sealed class MemoryChunkStore : IChunkStore, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Digest, LinkedListNode<Held>> _byDigest = [];
    private readonly LinkedList<Held> _recent = new();
    private long _bytes;

    public MemoryChunkStore(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        CapacityBytes = capacityBytes;
    }

    public long CapacityBytes { get; }

    /// <summary>Bytes held now (never above <see cref="CapacityBytes"/>).</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    public bool TryCopy(Digest chunk, int offset, Span<byte> destination)
    {
        lock (_lock)
        {
            if (!_byDigest.TryGetValue(chunk, out var node))
            {
                return false;
            }
            var held = node.Value;
            if (offset < 0 || destination.Length > held.Length - offset)
            {
                return false;
            }
            held.Buffer.AsSpan(offset, destination.Length).CopyTo(destination);
            if (node != _recent.First)
            {
                _recent.Remove(node);
                _recent.AddFirst(node);
            }
            return true;
        }
    }

    public void Add(Digest chunk, ReadOnlySpan<byte> data)
    {
        if (data.Length > CapacityBytes || data.Length == 0)
        {
            return;
        }
        lock (_lock)
        {
            if (_byDigest.ContainsKey(chunk))
            {
                return;
            }
            while (_bytes + data.Length > CapacityBytes && _recent.Last is { } oldest)
            {
                Evict(oldest);
            }
            var buffer = ArrayPool<byte>.Shared.Rent(data.Length);
            data.CopyTo(buffer);
            _byDigest[chunk] = _recent.AddFirst(new Held(chunk, buffer, data.Length));
            _bytes += data.Length;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            while (_recent.Last is { } oldest)
            {
                Evict(oldest);
            }
        }
    }

    private void Evict(LinkedListNode<Held> node)
    {
        _recent.Remove(node);
        _byDigest.Remove(node.Value.Digest);
        _bytes -= node.Value.Length;
        ArrayPool<byte>.Shared.Return(node.Value.Buffer);
    }

    private sealed record Held(Digest Digest, byte[] Buffer, int Length);
}
