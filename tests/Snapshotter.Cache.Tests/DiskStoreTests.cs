using Snapshotter.Oci;
using static Snapshotter.Cache.Tests.TestChunks;

namespace Snapshotter.Cache.Tests;

public class DiskStoreTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_put_chunk_is_served_from_memory_and_after_a_restart_from_disk()
    {
        using var root = new CacheRoot();
        var (key, data) = Make(1, 1);
        using (var cache = root.Open())
        {
            await cache.PutAsync(key, data, Cancel);
            var piece = new byte[1000];
            Assert.True(cache.TryCopyFromMemory(key, 5000, piece));
            Assert.Equal(data[5000..6000], piece);
        }

        using var reopened = root.Open();
        Assert.True(reopened.Contains(key));
        Assert.False(reopened.TryCopyFromMemory(key, 0, new byte[10]));
        var range = new byte[4096];
        Assert.True(await reopened.TryReadAsync(key, 123_456, range, Cancel));
        Assert.Equal(data[123_456..(123_456 + 4096)], range);
        // The first disk read verified the whole chunk and left it in the memory tier.
        var again = new byte[4096];
        Assert.True(reopened.TryCopyFromMemory(key, 200_000, again));
        Assert.Equal(data[200_000..204_096], again);
        Assert.Equal(1, reopened.Usage.Entries);
    }

    [Fact]
    public async Task A_chunk_put_without_keeping_it_in_memory_is_served_from_disk_alone()
    {
        using var root = new CacheRoot();
        using var cache = root.Open();
        var (key, data) = Make(1, 4, 300_000);

        await cache.PutAsync(key, data, Cancel, keepInMemory: false);

        Assert.False(cache.TryCopyFromMemory(key, 0, new byte[1]));
        Assert.True(cache.ContainsOnDisk(key));
        var range = new byte[4096];
        Assert.True(await cache.TryReadAsync(key, 100_000, range, Cancel));
        Assert.Equal(data[100_000..104_096], range);
        // This process wrote and verified it: positional reads, not a promotion to the memory tier.
        Assert.False(cache.TryCopyFromMemory(key, 0, new byte[1]));
    }

    [Fact]
    public async Task An_entry_is_a_file_named_by_layer_and_chunk_holding_only_the_chunk()
    {
        using var root = new CacheRoot();
        var cache = root.Open();
        var (key, data) = Make(1, 2, 10_000);
        await cache.PutAsync(key, data, Cancel);

        Assert.Equal(data, await File.ReadAllBytesAsync(root.EntryPath(key), Cancel));
        Assert.Empty(Directory.EnumerateFiles(root.Temp));
        Assert.Equal(12_288, cache.Usage.DiskBytes); // counted in 4 KiB blocks, as du would
    }

    [Fact]
    public async Task Positional_reads_of_a_verified_entry_without_the_memory_tier()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 0 });
        var (key, data) = Make(1, 3, 3 * MiB + 17);
        await cache.PutAsync(key, data, Cancel);

        Assert.False(cache.TryCopyFromMemory(key, 0, new byte[1]));
        foreach (var offset in new[] { 0, 1, MiB - 1, 3 * MiB })
        {
            var destination = new byte[17];
            Assert.True(await cache.TryReadAsync(key, offset, destination, Cancel));
            Assert.Equal(data[offset..(offset + 17)], destination);
        }
        Assert.Equal(0, cache.Usage.MemoryBytes);
    }

    [Fact]
    public async Task A_missing_chunk_is_a_miss()
    {
        using var root = new CacheRoot();
        var cache = root.Open();
        var (key, _) = Make(1, 4);
        Assert.False(cache.Contains(key));
        Assert.False(cache.TryCopyFromMemory(key, 0, new byte[1]));
        Assert.False(await cache.TryReadAsync(key, 0, new byte[1], Cancel));
    }

    [Fact]
    public async Task Reads_outside_the_chunk_are_refused()
    {
        using var root = new CacheRoot();
        var cache = root.Open();
        var (key, data) = Make(1, 5, 1000);
        await cache.PutAsync(key, data, Cancel);

        Assert.Throws<ArgumentOutOfRangeException>(() => cache.TryCopyFromMemory(key, 990, new byte[11]));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.TryCopyFromMemory(key, -1, new byte[1]));
        var diskOnly = root.Open(o => o with { MemoryBytes = 0 });
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await diskOnly.TryReadAsync(key, 1000, new byte[1], Cancel));
    }

    [Fact]
    public async Task The_same_chunk_in_two_layers_is_two_entries()
    {
        using var root = new CacheRoot();
        var cache = root.Open();
        var (key, data) = Make(1, 6, 5000);
        var other = key with { Layer = Layer(2) };
        await cache.PutAsync(key, data, Cancel);
        await cache.PutAsync(other, data, Cancel);

        Assert.Equal(2, cache.Usage.Entries);
        Assert.True(File.Exists(root.EntryPath(other)));
    }

    [Fact]
    public async Task Empty_chunks_and_chunks_larger_than_the_budget_are_not_stored_on_disk()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MaxBytes = MiB });
        var (big, data) = Make(1, 7, 2 * MiB);
        await cache.PutAsync(big, data, Cancel);
        await cache.PutAsync(new ChunkKey(Layer(1), Digest.Compute([])), ReadOnlyMemory<byte>.Empty, Cancel);

        Assert.Equal(0, cache.Usage.Entries);
        Assert.Empty(root.ChunkFiles());
        Assert.True(cache.TryCopyFromMemory(big, 0, new byte[10])); // the memory tier still has room for it
    }

    [Fact]
    public async Task Concurrent_puts_of_one_chunk_write_one_whole_entry()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 0 });
        var (key, data) = Make(1, 8, 2 * MiB);

        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => await cache.PutAsync(key, data, Cancel), Cancel)));

        Assert.Equal(1, cache.Usage.Entries);
        Assert.Equal(2 * MiB, cache.Usage.DiskBytes);
        Assert.Equal(data, await File.ReadAllBytesAsync(root.EntryPath(key), Cancel));
        Assert.Empty(Directory.EnumerateFiles(root.Temp));
    }

    [Fact]
    public async Task Concurrent_readers_and_putters_only_ever_see_whole_chunks()
    {
        using var root = new CacheRoot();
        // A budget of 6 of the 24 chunks and a small memory tier: evictions on both tiers all the time.
        var cache = root.Open(o => o with { MaxBytes = 6 * 256 * 1024, MemoryBytes = 4 * 256 * 1024 });
        var chunks = Enumerable.Range(0, 24).Select(i => Make(i % 3, 100 + i, 256 * 1024)).ToArray();
        var served = 0;
        var putters = 4;

        async Task Put(int worker)
        {
            var random = new Random(worker);
            for (var i = 0; i < 200; i++)
            {
                var (key, data) = chunks[random.Next(chunks.Length)];
                await cache.PutAsync(key, data, Cancel);
            }
            Interlocked.Decrement(ref putters);
        }

        async Task Read(int worker)
        {
            var random = new Random(1000 + worker);
            var destination = new byte[64 * 1024];
            // Until the putters are done, and a little beyond: whatever the scheduling, some reads hit.
            for (var i = 0; Volatile.Read(ref putters) > 0 || i < 400; i++)
            {
                var (key, data) = chunks[random.Next(chunks.Length)];
                var offset = random.Next(4) * 64 * 1024;
                if (await cache.TryReadAsync(key, offset, destination, Cancel))
                {
                    Assert.Equal(data[offset..(offset + destination.Length)], destination);
                    Interlocked.Increment(ref served);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 4).Select(w => Task.Run(() => Put(w), Cancel))
            .Concat(Enumerable.Range(0, 4).Select(w => Task.Run(() => Read(w), Cancel))));

        Assert.True(served > 0);
        Assert.True(cache.Usage.DiskBytes <= 6 * 256 * 1024);
        Assert.Empty(Directory.EnumerateFiles(root.Temp));
        foreach (var file in root.ChunkFiles())
        {
            Assert.True(Digest.Parse("sha256:" + file.Name).Matches(await File.ReadAllBytesAsync(file.FullName, Cancel)));
        }
    }
}
