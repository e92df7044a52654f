using Microsoft.Extensions.Caching.Memory;

namespace Snapshotter.Cache.Memory;

/// <summary>
/// Hot chunks in memory: a <see cref="MemoryCache"/> with a size limit in bytes, LRU compaction,
/// values in pooled buffers. Keyed by the chunk digest's text alone (a string key is looked up
/// without boxing): identical chunks of different layers are the same bytes. A lookup takes a
/// reference on the chunk, copies, and lets go; eviction drops the tier's own reference.
/// </summary>
internal sealed class MemoryTier : IDisposable
{
    private static readonly PostEvictionDelegate ReleaseOnEviction = static (_, value, _, _) => ((PooledChunk)value!).Release();

    private readonly MemoryCache? _cache;
    private long _bytes;

    /// <param name="capacityBytes">The size limit; 0 turns the tier off.</param>
    public MemoryTier(long capacityBytes)
    {
        CapacityBytes = capacityBytes;
        if (capacityBytes > 0)
        {
            // Statistics give the cache's own size, synchronously, for Add to make room with.
            _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = capacityBytes, TrackStatistics = true });
        }
    }

    public long CapacityBytes { get; }

    /// <summary>Bytes of pooled buffers held, including evicted chunks still being read from.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the chunk.</exception>
    public bool TryCopy(string chunkDigest, int offset, Span<byte> destination)
    {
        if (_cache is null || !_cache.TryGetValue(chunkDigest, out var value) || !((PooledChunk)value!).TryAcquire())
        {
            return false;
        }
        var chunk = (PooledChunk)value;
        try
        {
            CheckRange(chunk.Length, offset, destination.Length);
            chunk.Span.Slice(offset, destination.Length).CopyTo(destination);
            return true;
        }
        finally
        {
            chunk.Release();
        }
    }

    public bool Contains(string chunkDigest) => _cache is not null && _cache.TryGetValue(chunkDigest, out _);

    /// <summary>Whether a chunk of this size would be kept at all.</summary>
    public bool Accepts(int length) => _cache is not null && length > 0 && length <= CapacityBytes;

    /// <summary>A pooled chunk to fill; its reference belongs to the caller until <see cref="Add"/> or Release.</summary>
    public PooledChunk Rent(int length)
    {
        Interlocked.Add(ref _bytes, length);
        return new PooledChunk(this, length);
    }

    public void AddCopy(string chunkDigest, ReadOnlySpan<byte> data)
    {
        if (!Accepts(data.Length) || Contains(chunkDigest))
        {
            return;
        }
        var chunk = Rent(data.Length);
        data.CopyTo(chunk.WritableMemory.Span);
        Add(chunkDigest, chunk);
    }

    /// <summary>Hands the caller's reference on <paramref name="chunk"/> to the tier (released at once if it will not be kept).</summary>
    public void Add(string chunkDigest, PooledChunk chunk)
    {
        if (!Accepts(chunk.Length))
        {
            chunk.Release();
            return;
        }
        MakeRoom(chunk.Length);
        // Should a concurrent Add have taken the room meanwhile, the cache rejects this chunk and
        // its eviction callback runs: every path ends in exactly one Release of the tier's reference.
        using var entry = _cache!.CreateEntry(chunkDigest);
        entry.Value = chunk;
        entry.Size = chunk.Length;
        entry.RegisterPostEvictionCallback(ReleaseOnEviction);
    }

    /// <summary>
    /// Evicts least recently used chunks until <paramref name="length"/> more bytes fit. MemoryCache
    /// alone would reject a chunk that does not fit and compact in the background, dropping the
    /// chunk just fetched, the one most likely to be read next.
    /// </summary>
    private void MakeRoom(int length)
    {
        for (var round = 0; round < 8 && ResidentBytes + length > CapacityBytes && _cache!.Count > 0; round++)
        {
            // Compact takes a share of the entries, least recently used first: 10% at once, so a
            // full tier does not compact on every put, and at least one.
            _cache.Compact(Math.Max(0.10, 1.5 / _cache.Count));
        }
    }

    private long ResidentBytes => _cache!.GetCurrentStatistics()?.CurrentEstimatedSize ?? 0;

    internal void Returned(int length) => Interlocked.Add(ref _bytes, -length);

    /// <summary>Drops every chunk; buffers return to the pool once their readers are done.</summary>
    public void Clear() => _cache?.Clear();

    public void Dispose()
    {
        if (_cache is not null)
        {
            _cache.Clear();
            _cache.Dispose();
        }
    }

    internal static void CheckRange(long length, int offset, int count)
    {
        if (offset < 0 || count < 0 || offset > length - count)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"{count} bytes at offset {offset} are outside the chunk of {length} bytes");
        }
    }
}
