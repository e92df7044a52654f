using System.Text;
using Snapshotter.Oci;

namespace Snapshotter.Cache.Tests;

internal static class TestChunks
{
    public const int MiB = 1024 * 1024;

    public static Digest Layer(int number) => Digest.Compute(Encoding.UTF8.GetBytes($"layer {number}"));

    /// <summary>A chunk of pseudo-random bytes (distinct per seed) and its key in <paramref name="layer"/>.</summary>
    public static (ChunkKey Key, byte[] Data) Make(int layer, int seed, int length = MiB)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return (new ChunkKey(Layer(layer), Digest.Compute(data)), data);
    }

    /// <summary>Reads the whole chunk through the cache; null on a miss.</summary>
    public static async Task<byte[]?> ReadAsync(IChunkCache cache, ChunkKey key, int length)
    {
        var buffer = new byte[length];
        return await cache.TryReadAsync(key, 0, buffer, TestContext.Current.CancellationToken) ? buffer : null;
    }
}
