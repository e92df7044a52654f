using static Snapshotter.Cache.Tests.TestChunks;

namespace Snapshotter.Cache.Tests;

public class MemoryTierTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_memory_tier_stays_within_its_size_and_keeps_the_recent_chunks()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 8 * MiB });
        var chunks = Enumerable.Range(0, 24).Select(i => Make(1, i)).ToList();
        foreach (var (key, data) in chunks)
        {
            await cache.PutAsync(key, data, Cancel);
            await Eventually.True(() => cache.Usage.MemoryBytes <= 8 * MiB); // compaction runs in the background
        }

        Assert.True(cache.TryCopyFromMemory(chunks[^1].Key, 0, new byte[1]));
        Assert.False(cache.TryCopyFromMemory(chunks[0].Key, 0, new byte[1]));
        Assert.Equal(chunks[0].Data, await ReadAsync(cache, chunks[0].Key, MiB)); // still on disk
    }

    [Fact]
    public async Task Every_pooled_buffer_is_returned_when_the_cache_closes()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 4 * MiB });
        foreach (var i in Enumerable.Range(0, 10))
        {
            var (key, data) = Make(1, i);
            await cache.PutAsync(key, data, Cancel);
        }
        Assert.True(cache.Usage.MemoryBytes > 0);

        cache.Dispose();

        await Eventually.True(() => cache.Usage.MemoryBytes == 0);
    }

    [Fact]
    public async Task Identical_chunks_of_two_layers_share_one_copy_in_memory()
    {
        using var root = new CacheRoot();
        var cache = root.Open();
        var (key, data) = Make(1, 1);
        await cache.PutAsync(key, data, Cancel);
        await cache.PutAsync(key with { Layer = Layer(2) }, data, Cancel);

        Assert.Equal(MiB, cache.Usage.MemoryBytes);
        var third = key with { Layer = Layer(3) };
        Assert.True(cache.TryCopyFromMemory(third, 0, new byte[1]));
        Assert.True(cache.Contains(third));
        Assert.False(cache.ContainsOnDisk(third));
        Assert.True(cache.ContainsOnDisk(key));
    }

    [Fact]
    public async Task Readers_racing_evictions_never_see_a_recycled_buffer()
    {
        using var root = new CacheRoot();
        // Room for two chunks: every put evicts, and evicted buffers go back to the pool for reuse.
        // A disk budget below a chunk keeps the disk out of it.
        var cache = root.Open(o => o with { MemoryBytes = 2 * 64 * 1024, MaxBytes = 4096 });
        var chunks = Enumerable.Range(0, 8).Select(i => Make(1, i, 64 * 1024)).ToArray();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var hits = 0;

        var putter = Task.Run(async () =>
        {
            for (var i = 0; i < 4000; i++)
            {
                var (key, data) = chunks[i % chunks.Length];
                await cache.PutAsync(key, data, Cancel);
            }
            await stop.CancelAsync();
        }, Cancel);
        var readers = Enumerable.Range(0, 3).Select(w => Task.Run(() =>
        {
            var destination = new byte[64 * 1024];
            var random = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                var (key, data) = chunks[random.Next(chunks.Length)];
                if (cache.TryCopyFromMemory(key, 0, destination))
                {
                    Assert.Equal(data, destination);
                    Interlocked.Increment(ref hits);
                }
            }
        }, Cancel)).ToArray();

        await Task.WhenAll([putter, .. readers]);
        Assert.True(hits > 0);
    }
}
