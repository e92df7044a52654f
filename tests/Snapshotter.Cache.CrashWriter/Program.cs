using System.Globalization;
using Snapshotter.Cache;
using Snapshotter.Oci;

// Usage: Snapshotter.Cache.CrashWriter <cache-root> <max-bytes> <first-layer> <sync-writes>
// Puts 4 MiB chunks into the cache as fast as it can, each under a new layer, with a budget small
// enough that the GC evicts all the time; prints "ready" after the first layer. Its time goes to
// writing and evicting, so a SIGKILL at a random moment lands inside one of them. With
// <sync-writes> true each temp file is fsynced before its rename, which stretches the time a write
// is in progress (a page-cache write of 4 MiB alone is well under a millisecond).
var root = args[0];
var maxBytes = long.Parse(args[1], CultureInfo.InvariantCulture);
var firstLayer = int.Parse(args[2], CultureInfo.InvariantCulture);
var syncWrites = bool.Parse(args[3]);

const int ChunkSize = 4 * 1024 * 1024;
var chunks = Enumerable.Range(0, 4).Select(seed =>
{
    var data = new byte[ChunkSize];
    new Random(seed).NextBytes(data);
    return (Data: data, Digest: Digest.Compute(data));
}).ToArray();

using var cache = ChunkCache.Open(new ChunkCacheOptions { Root = root, MaxBytes = maxBytes, MinFreePercent = 0, MemoryBytes = 0, SyncWrites = syncWrites });
for (var layer = firstLayer; ; layer++)
{
    var layerDigest = Digest.Compute(BitConverter.GetBytes(layer));
    foreach (var (data, digest) in chunks)
    {
        await cache.PutAsync(new ChunkKey(layerDigest, digest), data, CancellationToken.None);
    }
    if (layer == firstLayer)
    {
        Console.WriteLine("ready");
    }
}
