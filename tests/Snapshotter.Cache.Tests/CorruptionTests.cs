using System.Diagnostics.Metrics;
using static Snapshotter.Cache.Tests.TestChunks;

namespace Snapshotter.Cache.Tests;

public class CorruptionTests
{
    public enum Damage
    {
        Truncated,
        FlippedByte,
        Empty,
        OtherContent,
        Appended,
    }

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(Damage.Truncated)]
    [InlineData(Damage.FlippedByte)]
    [InlineData(Damage.Empty)]
    [InlineData(Damage.OtherContent)]
    [InlineData(Damage.Appended)]
    public async Task A_damaged_entry_is_never_served_but_deleted_counted_and_logged(Damage damage)
    {
        using var root = new CacheRoot();
        var (key, data) = Make(1, 1, 2 * MiB);
        using (var writer = root.Open())
        {
            await writer.PutAsync(key, data, Cancel);
        }
        var path = root.EntryPath(key);
        DamageFile(path, damage, data);

        var cache = root.Open();
        using var corrupt = CountCorruptEntries(cache);
        var destination = new byte[4096];
        Assert.False(await cache.TryReadAsync(key, 0, destination, Cancel));

        Assert.False(File.Exists(path));
        Assert.False(cache.Contains(key));
        Assert.Equal(0, cache.Usage.Entries);
        Assert.Contains(root.Logger.Messages, m => m.Contains(key.Chunk.Value, StringComparison.Ordinal) && m.Contains(key.Layer.Value, StringComparison.Ordinal));
        // An empty file is recognised (and counted) by the scan at open, before the listener started.
        Assert.Equal(damage == Damage.Empty ? 0 : 1, corrupt.Total);

        // Refetched and put again, it is served.
        await cache.PutAsync(key, data, Cancel);
        using var fresh = root.Open(o => o with { MemoryBytes = 0 });
        Assert.Equal(data, await ReadAsync(fresh, key, data.Length));
    }

    [Fact]
    public async Task A_file_longer_than_any_chunk_is_corrupt()
    {
        using var root = new CacheRoot();
        var (key, data) = Make(1, 2, 1000);
        using (var writer = root.Open())
        {
            await writer.PutAsync(key, data, Cancel);
        }
        using (var file = File.OpenHandle(root.EntryPath(key), FileMode.Open, FileAccess.Write))
        {
            RandomAccess.SetLength(file, ChunkCache.MaxChunkBytes + 1L);
        }

        var cache = root.Open();
        Assert.False(await cache.TryReadAsync(key, 0, new byte[10], Cancel));
        Assert.False(File.Exists(root.EntryPath(key)));
    }

    [Fact]
    public async Task An_entry_removed_by_another_process_is_a_miss_and_leaves_the_index()
    {
        using var root = new CacheRoot();
        var cache = root.Open(o => o with { MemoryBytes = 0 });
        var (key, data) = Make(1, 3, 8192);
        await cache.PutAsync(key, data, Cancel);
        File.Delete(root.EntryPath(key));

        Assert.False(await cache.TryReadAsync(key, 0, new byte[10], Cancel));
        Assert.Equal(new CacheUsage(0, 0, 0), cache.Usage);
    }

    private static void DamageFile(string path, Damage damage, byte[] data)
    {
        switch (damage)
        {
            case Damage.Truncated:
                File.WriteAllBytes(path, data[..(data.Length / 2)]);
                break;
            case Damage.FlippedByte:
                var copy = data.ToArray();
                copy[copy.Length / 3] ^= 0x40;
                File.WriteAllBytes(path, copy);
                break;
            case Damage.Empty:
                File.WriteAllBytes(path, []);
                break;
            case Damage.OtherContent:
                File.WriteAllBytes(path, Make(1, 99, data.Length).Data);
                break;
            case Damage.Appended:
                File.AppendAllText(path, "x");
                break;
        }
    }

    internal static MeasurementTotal CountCorruptEntries(ChunkCache cache) => new(cache, "corrupt_entries");
}

/// <summary>Sums one counter of one cache instance's meter (other tests' caches run in parallel).</summary>
internal sealed class MeasurementTotal : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public MeasurementTotal(ChunkCache cache, string instrument)
    {
        _listener.InstrumentPublished = (published, listener) =>
        {
            if (published.Meter == cache.Meter && published.Name == instrument)
            {
                listener.EnableMeasurementEvents(published);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
