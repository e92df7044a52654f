using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Snapshotter.Cache;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Benchmarks;

/// <summary>
/// The chunk cache: a warm read of a whole chunk from the memory tier and from disk (an entry
/// this process verified before: one positional read, from the page cache), the first read of an
/// entry after a restart (read whole + sha256 before serving), and a put (memory tier copy, temp
/// file write, rename; with a 256 MiB budget, so eviction runs are included, amortised).
/// </summary>
[MemoryDiagnoser]
public class CacheBenchmarks
{
    private readonly TempDirectory _root = new("cache-bench");
    private ChunkCache _memory = null!;
    private ChunkCache _disk = null!;
    private ChunkCache _puts = null!;
    private ChunkKey _key;
    private byte[] _data = [];
    private byte[] _destination = [];
    private int _layer;

    [Params(64 * 1024, 4 * 1024 * 1024)]
    public int ChunkSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = RandomNumberGenerator.GetBytes(ChunkSize);
        _destination = new byte[ChunkSize];
        _key = new ChunkKey(Digest.Compute("layer"u8), Digest.Compute(_data));
        _memory = Open("memory", memoryBytes: ChunkCacheOptions.DefaultMemoryBytes);
        _disk = Open("disk", memoryBytes: 0);
        _puts = Open("puts", memoryBytes: ChunkCacheOptions.DefaultMemoryBytes);
        _memory.PutAsync(_key, _data, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        _disk.PutAsync(_key, _data, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _memory.Dispose();
        _disk.Dispose();
        _puts.Dispose();
        _root.Dispose();
    }

    [Benchmark]
    public bool ReadFromMemory() => _memory.TryCopyFromMemory(_key, 0, _destination);

    [Benchmark]
    public async Task<bool> ReadFromDisk() => await _disk.TryReadAsync(_key, 0, _destination, CancellationToken.None);

    /// <summary>A fresh instance on the root each time, so the entry is verified before it is served.</summary>
    [Benchmark]
    public async Task<bool> FirstReadAfterRestart()
    {
        using var restarted = Open("disk", memoryBytes: 0);
        return await restarted.TryReadAsync(_key, 0, _destination, CancellationToken.None);
    }

    [Benchmark]
    public async Task Put() =>
        await _puts.PutAsync(_key with { Layer = Digest.Compute(BitConverter.GetBytes(++_layer)) }, _data, CancellationToken.None);

    private ChunkCache Open(string name, long memoryBytes) => OpenCache(_root.Combine(name), memoryBytes, maxBytes: 256L * 1024 * 1024);

    /// <summary>A cache for benchmarks: no free-disk floor, so the machine's disk does not change the figures.</summary>
    internal static ChunkCache OpenCache(string root, long memoryBytes, long maxBytes = ChunkCacheOptions.DefaultMaxBytes) =>
        ChunkCache.Open(new ChunkCacheOptions { Root = root, MaxBytes = maxBytes, MinFreePercent = 0, MemoryBytes = memoryBytes });
}
