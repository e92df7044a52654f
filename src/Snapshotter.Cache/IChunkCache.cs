using Snapshotter.Oci;

namespace Snapshotter.Cache;

/// <summary>
/// Verified, decompressed chunks kept between reads and across restarts: a memory tier for hot
/// chunks over an on-disk store, bounded by the GC policy of <see cref="ChunkCacheOptions"/>.
/// Thread-safe. Only chunks the caller has verified are put; a disk entry is verified again
/// (sha256 == <see cref="ChunkKey.Chunk"/>) before this process serves any byte of it.
/// </summary>
public interface IChunkCache
{
    /// <summary>
    /// The hot path, synchronous and without I/O: copies <c>destination.Length</c> bytes from
    /// <paramref name="offset"/> of the chunk from the memory tier. False when it is not in memory.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the chunk.</exception>
    bool TryCopyFromMemory(in ChunkKey key, int offset, Span<byte> destination);

    /// <summary>
    /// Copies from the memory tier, else from disk with a positional read. False on a miss. A disk
    /// entry is verified before any byte of it is served (at least the first time this process
    /// reads it); a corrupt or torn entry is deleted, counted, logged and reported as a miss.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the chunk.</exception>
    ValueTask<bool> TryReadAsync(ChunkKey key, int offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the chunk is in memory or on disk; no I/O, no verification. The memory tier holds
    /// chunks by content, so this is also true when the same chunk of another layer is in memory.
    /// </summary>
    bool Contains(in ChunkKey key);

    /// <summary>
    /// Whether this layer's entry for the chunk is on disk (as far as the index knows; no I/O):
    /// what a background fetch that persists a whole layer asks.
    /// </summary>
    bool ContainsOnDisk(in ChunkKey key);

    /// <summary>
    /// Stores a whole chunk the caller already verified: into the memory tier (unless
    /// <paramref name="keepInMemory"/> is false) and atomically onto disk (evicting first when the
    /// budget or the free-disk floor requires). Best effort: a chunk that cannot be stored (too
    /// large, disk full, I/O error) is simply not cached.
    /// </summary>
    ValueTask PutAsync(ChunkKey key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken, bool keepInMemory = true);

    /// <summary>
    /// Marks a layer as in use (mounted) until the lease is disposed: the GC evicts entries of
    /// layers without a lease first. Leases are counted, and seen by other processes on the root.
    /// </summary>
    IDisposable AcquireLayer(Digest layer);

    /// <summary>Drops every disk entry of the layer now (its snapshot was removed).</summary>
    void ForgetLayer(Digest layer);

    /// <summary>Runs the GC once (budget, free-disk floor, stale files) and says what it freed.</summary>
    ValueTask<CacheCollection> CollectAsync(CancellationToken cancellationToken);

    /// <summary>What the cache holds now.</summary>
    CacheUsage Usage { get; }
}

/// <summary>A snapshot of what the cache holds.</summary>
/// <param name="DiskBytes">Bytes on disk, counted in filesystem blocks, including writes in progress.</param>
/// <param name="Entries">Chunks on disk.</param>
/// <param name="MemoryBytes">Bytes of chunks held by the memory tier.</param>
public readonly record struct CacheUsage(long DiskBytes, long Entries, long MemoryBytes);

/// <summary>What one GC run did.</summary>
/// <param name="EntriesEvicted">Disk entries removed to meet the budget or the free-disk floor.</param>
/// <param name="BytesFreed">Their size, in filesystem blocks.</param>
/// <param name="StaleFilesRemoved">Temporary and lease files left by processes that died.</param>
/// <param name="Usage">Usage after the run.</param>
/// <param name="Duration">How long the run took.</param>
public readonly record struct CacheCollection(int EntriesEvicted, long BytesFreed, int StaleFilesRemoved, CacheUsage Usage, TimeSpan Duration);
