using Microsoft.Extensions.Time.Testing;
using static Snapshotter.Cache.Tests.TestChunks;

namespace Snapshotter.Cache.Tests;

/// <summary>The GC policy: budget, LRU across layers, leases first, forgetting layers, periodic runs.</summary>
public class CollectionTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_cache_filled_past_its_budget_evicts_to_it()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MaxBytes = 8 * MiB, MemoryBytes = 0 });
        using var evictions = new MeasurementTotal(cache, "evictions");
        var chunks = Enumerable.Range(0, 40).Select(i => Make(i % 4, i)).ToList();

        foreach (var (key, data) in chunks)
        {
            await cache.PutAsync(key, data, Cancel);
            Assert.InRange(cache.Usage.DiskBytes, 0, 8 * MiB);
            Assert.InRange(root.ChunkFileBytes(), 0, 8 * MiB);
        }

        Assert.True(evictions.Total >= 32);
        Assert.Equal(cache.Usage.Entries, root.ChunkFiles().Count);
        Assert.True(cache.Contains(chunks[^1].Key));
        Assert.False(cache.Contains(chunks[0].Key));
    }

    [Fact]
    public async Task Over_budget_the_least_recently_used_entries_go_down_to_the_low_watermark()
    {
        using var root = new CacheRoot();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var cache = root.Open(o => o with { MaxBytes = 4 * MiB, LowWatermarkPercent = 75, MemoryBytes = 0 }, time);
        var (a, b, c, d, e) = (Make(1, 1), Make(2, 2), Make(1, 3), Make(2, 4), Make(1, 5));
        foreach (var (key, data) in new[] { a, b, c, d })
        {
            await cache.PutAsync(key, data, Cancel);
            time.Advance(TimeSpan.FromMinutes(1));
        }
        Assert.NotNull(await ReadAsync(cache, a.Key, MiB)); // a is now the most recently used
        time.Advance(TimeSpan.FromMinutes(1));

        await cache.PutAsync(e.Key, e.Data, Cancel); // 5 MiB > 4: evict down to 3 MiB

        Assert.Equal(3 * MiB, cache.Usage.DiskBytes);
        Assert.True(cache.Contains(a.Key));
        Assert.False(cache.Contains(b.Key));
        Assert.False(cache.Contains(c.Key));
        Assert.True(cache.Contains(d.Key));
        Assert.True(cache.Contains(e.Key));
    }

    [Fact]
    public async Task Entries_of_layers_without_a_lease_go_first_however_recent()
    {
        using var root = new CacheRoot();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var cache = root.Open(o => o with { MaxBytes = 4 * MiB, LowWatermarkPercent = 50, MemoryBytes = 0 }, time);
        using var mounted = cache.AcquireLayer(Layer(1));
        var leased = new[] { Make(1, 1), Make(1, 2) };
        var unleased = new[] { Make(2, 3), Make(2, 4) };
        foreach (var (key, data) in leased.Concat(unleased))
        {
            await cache.PutAsync(key, data, Cancel);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        var newest = Make(1, 5);
        await cache.PutAsync(newest.Key, newest.Data, Cancel); // over: down to 2 MiB

        Assert.All(unleased, chunk => Assert.False(cache.Contains(chunk.Key)));
        Assert.False(cache.Contains(leased[0].Key)); // then the oldest leased one
        Assert.True(cache.Contains(leased[1].Key));
        Assert.True(cache.Contains(newest.Key));
    }

    [Fact]
    public async Task A_released_lease_no_longer_protects_its_layer()
    {
        using var root = new CacheRoot();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        // Low watermark at 100%: each put over the budget evicts exactly one entry.
        var cache = root.Open(o => o with { MaxBytes = 2 * MiB, LowWatermarkPercent = 100, MemoryBytes = 0 }, time);
        var lease = cache.AcquireLayer(Layer(2));
        var second = cache.AcquireLayer(Layer(2));
        var (older, newer) = (Make(2, 1), Make(1, 2));
        await cache.PutAsync(older.Key, older.Data, Cancel);
        time.Advance(TimeSpan.FromMinutes(1));
        await cache.PutAsync(newer.Key, newer.Data, Cancel);
        time.Advance(TimeSpan.FromMinutes(1));

        var third = Make(1, 3);
        await cache.PutAsync(third.Key, third.Data, Cancel); // layer 2 is leased: the newer, unleased entry goes
        Assert.True(cache.Contains(older.Key));
        Assert.False(cache.Contains(newer.Key));

        lease.Dispose();
        second.Dispose();
        second.Dispose(); // idempotent: the count is not taken below zero
        var fourth = Make(1, 4);
        await cache.PutAsync(fourth.Key, fourth.Data, Cancel); // plain LRU now

        Assert.False(cache.Contains(older.Key));
        Assert.True(cache.Contains(third.Key));
        Assert.True(cache.Contains(fourth.Key));
    }

    [Fact]
    public async Task The_order_of_use_survives_a_restart()
    {
        using var root = new CacheRoot();
        var (a, b, c) = (Make(1, 1), Make(1, 2), Make(1, 3));
        using (var cache = root.Open())
        {
            foreach (var (key, data) in new[] { a, b, c })
            {
                await cache.PutAsync(key, data, Cancel);
                await Task.Delay(20, Cancel);
            }
            // A memory hit touches a in the index only; the GC writes that to the file's atime.
            Assert.True(cache.TryCopyFromMemory(a.Key, 0, new byte[1]));
            await cache.CollectAsync(Cancel);
        }

        var reopened = root.Open(o => o with { MaxBytes = 3 * MiB, LowWatermarkPercent = 66.7 });
        var d = Make(1, 4);
        await reopened.PutAsync(d.Key, d.Data, Cancel);

        Assert.True(reopened.Contains(a.Key));
        Assert.False(reopened.Contains(b.Key));
        Assert.False(reopened.Contains(c.Key));
    }

    [Fact]
    public async Task Forgetting_a_layer_drops_its_entries_at_once()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 0 });
        var (gone, kept) = (Make(1, 1), Make(2, 2));
        await cache.PutAsync(gone.Key, gone.Data, Cancel);
        await cache.PutAsync(kept.Key, kept.Data, Cancel);

        cache.ForgetLayer(Layer(1));

        Assert.False(cache.Contains(gone.Key));
        Assert.False(Directory.Exists(Path.Combine(root.Chunks, Layer(1).Hex)));
        Assert.Equal(new CacheUsage(MiB, 1, 0), cache.Usage);
        Assert.Equal(kept.Data, await ReadAsync(cache, kept.Key, MiB));
    }

    [Fact]
    public async Task A_collection_under_budget_evicts_nothing_and_removes_empty_directories()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 0 });
        var chunk = Make(1, 1);
        await cache.PutAsync(chunk.Key, chunk.Data, Cancel);
        Directory.CreateDirectory(Path.Combine(root.Chunks, Layer(3).Hex)); // a layer whose entries all went

        var first = await cache.CollectAsync(Cancel);
        var second = await cache.CollectAsync(Cancel);

        Assert.Equal((0, 0L), (first.EntriesEvicted, first.BytesFreed));
        Assert.Equal(new CacheUsage(MiB, 1, 0), second.Usage);
        Assert.False(Directory.Exists(Path.Combine(root.Chunks, Layer(3).Hex)));
        Assert.True(cache.Contains(chunk.Key));
    }

    [Fact]
    public async Task The_periodic_collection_runs_on_the_injected_clock_and_enforces_the_budget()
    {
        using var root = new CacheRoot();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var daemon = root.Open(o => o with { MaxBytes = 4 * MiB, GcInterval = TimeSpan.FromMinutes(5), MemoryBytes = 0 }, time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var periodic = daemon.RunPeriodicCollectionAsync(stop.Token);

        // Another process with a larger budget fills the shared root behind the daemon's back.
        using (var other = root.Open(o => o with { MaxBytes = 64 * MiB }))
        {
            foreach (var i in Enumerable.Range(0, 8))
            {
                var (key, data) = Make(i, i);
                await other.PutAsync(key, data, Cancel);
            }
        }
        Assert.Equal(8 * MiB, root.ChunkFileBytes());

        time.Advance(TimeSpan.FromMinutes(5));
        await Eventually.True(() => root.ChunkFileBytes() <= 4 * MiB);

        Assert.InRange(daemon.Usage.DiskBytes, 0, 4 * MiB);
        Assert.Equal(daemon.Usage.Entries, root.ChunkFiles().Count);
        await stop.CancelAsync();
        await periodic; // ends quietly on cancellation
    }
}
