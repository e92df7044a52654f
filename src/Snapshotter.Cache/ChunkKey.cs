using Snapshotter.Oci;

namespace Snapshotter.Cache;

/// <summary>
/// A cache entry's name: the layer blob it belongs to and the sha256 of its uncompressed bytes
/// (the TOC's <c>chunkDigest</c>). The layer is part of the key so that the GC can account and
/// evict per layer (leases, <see cref="IChunkCache.ForgetLayer"/>); the chunk digest is what
/// every served byte is verified against.
/// </summary>
public readonly record struct ChunkKey(Digest Layer, Digest Chunk);
