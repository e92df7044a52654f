using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Cache.Tests;

/// <summary>A process putting chunks (and evicting) is SIGKILLed again and again; what it leaves must never be served corrupt.</summary>
public class CrashTests
{
    private const int Rounds = 8;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Kill_9_during_cache_writes_leaves_no_corrupt_entry_served()
    {
        using var root = new CacheRoot();
        var writer = Path.Combine(AppContext.BaseDirectory, "Snapshotter.Cache.CrashWriter");
        Assert.True(File.Exists(writer), $"the crash writer is built next to the tests: {writer}");
        var random = new Random(42);
        var killedMidWrite = 0;

        for (var round = 0; round < Rounds; round++)
        {
            // Half the writers fsync before each rename (the SyncWrites path), half do not (the default).
            var syncWrites = round % 2 == 0;
            await using var process = new BackgroundProcess(writer, [root.Path, (48L * TestChunks.MiB).ToString(), (round * 1_000_000).ToString(), syncWrites.ToString()]);
            await process.WaitUntilAsync(() => Task.FromResult(process.Output.Contains("ready", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), "writing");
            await Task.Delay(random.Next(50, 300), Cancel);
            // Rounds 0, 1, 4, 5 kill at a random moment (inside a write, an eviction, or between);
            // rounds 2, 3, 6, 7 freeze the writer until it is caught with a temp file half
            // written, and kill it there, so the test surely covers a kill inside a write.
            if (round % 4 >= 2)
            {
                await FreezeInsideAWriteAsync(process.Pid, root.Temp);
            }
            await process.KillAsync();
            if (Directory.EnumerateFiles(root.Temp, "*.tmp").Any())
            {
                killedMidWrite++;
            }
        }

        using var cache = ChunkCache.Open(root.Options(), root.Logger);

        Assert.True(killedMidWrite >= Rounds / 2, $"only {killedMidWrite} kills landed inside a write");
        Assert.Empty(Directory.EnumerateFiles(root.Temp)); // the dead writers' temp files are gone
        Assert.Single(Directory.EnumerateFiles(Path.Combine(root.Path, "instances"), "*.lock"));
        var keys = cache.IndexedKeys().ToList();
        Assert.NotEmpty(keys);
        Assert.Equal(keys.Count, root.ChunkFiles().Count);
        foreach (var key in keys)
        {
            var data = await TestChunks.ReadAsync(cache, key, 4 * TestChunks.MiB);
            Assert.NotNull(data);
            Assert.Equal(key.Chunk, Digest.Compute(data));
        }
        // And nothing torn sits on disk at all: a rename publishes whole files only.
        foreach (var file in root.ChunkFiles())
        {
            Assert.Equal(file.Name, Digest.Compute(await File.ReadAllBytesAsync(file.FullName, Cancel)).Hex);
        }
    }

    /// <summary>SIGSTOPs the writer at random moments until, fully stopped, it has a temp file open; leaves it stopped.</summary>
    private static async Task FreezeInsideAWriteAsync(int pid, string temp)
    {
        for (var attempt = 0; attempt < 2000; attempt++)
        {
            Signals.Stop(pid);
            while (!Signals.IsStopped(pid))
            {
                await Task.Yield();
            }
            if (Directory.EnumerateFiles(temp, "*.tmp").Any())
            {
                return;
            }
            Signals.Continue(pid);
            await Task.Delay(1, Cancel);
        }
        Assert.Fail("the writer was never caught inside a write");
    }
}
