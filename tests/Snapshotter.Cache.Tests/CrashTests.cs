using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Cache.Tests;

/// <summary>A process putting chunks (and evicting) is SIGKILLed again and again; what it leaves must never be served corrupt.</summary>
public class CrashTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Kill_9_during_cache_writes_leaves_no_corrupt_entry_served()
    {
        using var root = new CacheRoot();
        var writer = Path.Combine(AppContext.BaseDirectory, "Snapshotter.Cache.CrashWriter");
        Assert.True(File.Exists(writer), $"the crash writer is built next to the tests: {writer}");
        var random = new Random(42);
        var killedMidWrite = 0;
        const int Rounds = 6;

        for (var round = 0; round < Rounds; round++)
        {
            await using var process = new BackgroundProcess(writer, [root.Path, (48L * TestChunks.MiB).ToString(), (round * 1_000_000).ToString()]);
            await process.WaitUntilAsync(() => Task.FromResult(process.Output.Contains("ready", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), "writing");
            await Task.Delay(random.Next(50, 400), Cancel);
            await process.KillAsync();
            if (Directory.EnumerateFiles(root.Temp, "*.tmp").Any())
            {
                killedMidWrite++;
            }
        }

        using var cache = ChunkCache.Open(root.Options(), root.Logger);

        // Killed mid-write at least once, or the test proved nothing: the writer is nearly always writing.
        Assert.True(killedMidWrite > 0, "no kill landed inside a write");
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
}
