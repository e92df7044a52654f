using static Snapshotter.Cache.Tests.TestChunks;

namespace Snapshotter.Cache.Tests;

/// <summary>Several processes on one root: the daemon and `stargzctl cache gc` (here, two instances in one process).</summary>
public class SharedRootTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_gc_of_another_instance_honours_the_daemons_leases()
    {
        using var root = new CacheRoot();
        var daemon = root.Open(o => o with { MemoryBytes = 0 });
        var lease = daemon.AcquireLayer(Layer(1));
        var mounted = Make(1, 1);
        await daemon.PutAsync(mounted.Key, mounted.Data, Cancel);
        await Task.Delay(20, Cancel);
        var unmounted = Make(2, 2);
        await daemon.PutAsync(unmounted.Key, unmounted.Data, Cancel);

        var budget = root.Options() with { MaxBytes = MiB, LowWatermarkPercent = 100 };
        var collection = await ChunkCache.CollectOnceAsync(budget, root.Logger, Cancel);

        Assert.Equal((1, (long)MiB), (collection.EntriesEvicted, collection.BytesFreed));
        Assert.True(File.Exists(root.EntryPath(mounted.Key)));
        Assert.False(File.Exists(root.EntryPath(unmounted.Key)));
        Assert.Contains(root.Logger.Messages, m => m.Contains("evicted 1 entries", StringComparison.Ordinal));

        lease.Dispose();
        var more = Make(2, 3);
        await daemon.PutAsync(more.Key, more.Data, Cancel);
        await ChunkCache.CollectOnceAsync(budget, root.Logger, Cancel);
        Assert.False(File.Exists(root.EntryPath(mounted.Key))); // the oldest, and no longer leased
        Assert.True(File.Exists(root.EntryPath(more.Key)));

        // The daemon's index catches up with the other process's evictions at its next GC.
        await daemon.CollectAsync(Cancel);
        Assert.Equal(new CacheUsage(MiB, 1, 0), daemon.Usage);
    }

    [Fact]
    public void Files_of_a_dead_instance_are_removed_at_open_and_a_live_ones_kept()
    {
        using var root = new CacheRoot();
        var live = root.Open();
        var liveId = Path.GetFileNameWithoutExtension(Directory.GetFiles(Path.Combine(root.Path, "instances"), "*.lock").Single());
        var dead = Guid.NewGuid().ToString("N");
        var stale = new[]
        {
            Path.Combine(root.Temp, $"{dead}.1.tmp"),
            Path.Combine(root.Path, "instances", $"{dead}.lock"),
            Path.Combine(root.Path, "instances", $"{dead}.layers"),
            Path.Combine(root.Temp, $"{Guid.NewGuid():N}.7.tmp"), // no lock file at all
        };
        var livesTemp = Path.Combine(root.Temp, $"{liveId}.99.tmp");
        foreach (var file in stale.Append(livesTemp))
        {
            File.WriteAllText(file, "x");
        }

        using var next = ChunkCache.Open(root.Options(), root.Logger);

        Assert.All(stale, file => Assert.False(File.Exists(file), file));
        Assert.True(File.Exists(livesTemp));
        live.Dispose();
        Assert.Single(Directory.GetFiles(Path.Combine(root.Path, "instances")), f => f.EndsWith(".lock", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Entries_written_by_another_instance_are_indexed_by_the_next_scan()
    {
        using var root = new CacheRoot();
        var reader = root.Open(o => o with { MemoryBytes = 0 });
        var chunk = Make(1, 1);
        using (var writer = root.Open())
        {
            await writer.PutAsync(chunk.Key, chunk.Data, Cancel);
        }
        Assert.False(reader.Contains(chunk.Key));

        await reader.CollectAsync(Cancel);

        Assert.Equal(chunk.Data, await ReadAsync(reader, chunk.Key, MiB));
    }
}
