using System.Buffers;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// Where one layer's verified, decompressed chunks are kept between reads, keyed by chunk digest
/// (content addressed). The on-disk chunk cache with its memory tier in the daemon; the bounded
/// in-memory <see cref="MemoryChunkStore"/> when there is none. Implementations are thread-safe
/// and bounded, only verified data is ever added, and nothing that fails its digest is returned.
/// </summary>
public interface IChunkStore
{
    /// <summary>
    /// Copies <c>destination.Length</c> bytes from <paramref name="offset"/> of the chunk from
    /// memory, without I/O (the FUSE hot path); false when memory does not hold it.
    /// </summary>
    bool TryCopy(Digest chunk, int offset, Span<byte> destination);

    /// <summary>Like <see cref="TryCopy"/>, but also from disk; false on a miss.</summary>
    ValueTask<bool> TryReadAsync(Digest chunk, int offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Whether the layer's copy of the chunk is held for good (on disk, for the cache); cheap, no verification. What prefetch, background fetch and "fully local" go by.</summary>
    bool Contains(Digest chunk);

    /// <summary>Offers a whole verified chunk; the store may keep a copy or ignore it.</summary>
    /// <param name="readSoon">
    /// Whether a reader is likely to ask for it again shortly (on-demand reads and their
    /// read-ahead, which the kernel splits into several reads of one chunk). A store with a durable
    /// tier keeps prefetched and background chunks there only: the local copies and later reads
    /// take them from disk, and keeping them in memory as well cost a pull of the benchmark's Python
    /// image ~0.25 s of CPU (fresh buffers, full GCs) on two cores the container needed.
    /// </param>
    ValueTask AddAsync(Digest chunk, ReadOnlyMemory<byte> data, bool readSoon, CancellationToken cancellationToken);
}

/// <summary>
/// The most recently used chunks, in pooled buffers, bounded by <see cref="CapacityBytes"/>: the
/// store of a layer mounted without the on-disk cache (tools, tests).
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

    public ValueTask<bool> TryReadAsync(Digest chunk, int offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        ValueTask.FromResult(TryCopy(chunk, offset, destination.Span));

    public bool Contains(Digest chunk)
    {
        lock (_lock)
        {
            return _byDigest.ContainsKey(chunk);
        }
    }

    /// <remarks>Memory is this store's only tier: it keeps the chunk whatever <paramref name="readSoon"/> says.</remarks>
    public ValueTask AddAsync(Digest chunk, ReadOnlyMemory<byte> data, bool readSoon, CancellationToken cancellationToken)
    {
        Add(chunk, data.Span);
        return ValueTask.CompletedTask;
    }

    private void Add(Digest chunk, ReadOnlySpan<byte> data)
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
