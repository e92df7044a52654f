using BenchmarkDotNet.Attributes;
using Snapshotter.Cache;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Benchmarks;

/// <summary>
/// What a large cache costs outside the read path: opening it (the directory scan that rebuilds
/// the index after a restart) and a GC run that evicts nothing (rescan, access times, leases),
/// for 100,000 small entries over 100 layers.
/// </summary>
[MemoryDiagnoser]
public class CacheIndexBenchmarks
{
    private readonly TempDirectory _root = new("cache-index-bench");
    private ChunkCache _cache = null!;

    [Params(100_000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cache = CacheBenchmarks.OpenCache(_root.Path, memoryBytes: 0);
        var data = new byte[512];
        for (var i = 0; i < Entries; i++)
        {
            BitConverter.TryWriteBytes(data, i);
            var key = new ChunkKey(Digest.Compute(BitConverter.GetBytes(i % 100)), Digest.Compute(data));
            _cache.PutAsync(key, data, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _root.Dispose();
    }

    [Benchmark]
    public long OpenAndScan()
    {
        using var cache = CacheBenchmarks.OpenCache(_root.Path, memoryBytes: 0);
        return cache.Usage.Entries;
    }

    [Benchmark]
    public async Task<long> CollectNothing() => (await _cache.CollectAsync(CancellationToken.None)).Usage.Entries;
}
