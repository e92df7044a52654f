using Snapshotter.Cache;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// One layer's view of the daemon's chunk cache, holding a lease on the layer while mounted so the
/// GC evicts unmounted layers' chunks first. Dispose releases the lease (the chunks stay cached).
/// </summary>
public sealed class CachedChunkStore : IChunkStore, IDisposable
{
    private readonly IChunkCache _cache;
    private readonly Digest _layer;
    private readonly IDisposable _lease;

    public CachedChunkStore(IChunkCache cache, Digest layer)
    {
        _cache = cache ?? throw new ArgumentNullException(nameof(cache));
        _layer = layer;
        _lease = cache.AcquireLayer(layer);
    }

    public bool TryCopy(Digest chunk, int offset, Span<byte> destination) =>
        _cache.TryCopyFromMemory(new ChunkKey(_layer, chunk), offset, destination);

    public ValueTask<bool> TryReadAsync(Digest chunk, int offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        _cache.TryReadAsync(new ChunkKey(_layer, chunk), offset, destination, cancellationToken);

    /// <summary>On disk for this layer: a chunk only in the (content-keyed) memory tier is not yet part of the layer's local copy.</summary>
    public bool Contains(Digest chunk) => _cache.ContainsOnDisk(new ChunkKey(_layer, chunk));

    public ValueTask AddAsync(Digest chunk, ReadOnlyMemory<byte> data, bool readSoon, CancellationToken cancellationToken) =>
        _cache.PutAsync(new ChunkKey(_layer, chunk), data, cancellationToken, keepInMemory: readSoon);

    public void Dispose() => _lease.Dispose();
}
