using System.Diagnostics.Metrics;

namespace Snapshotter.Cache;

/// <summary>
/// The cache's instruments on the <see cref="ChunkCache.MeterName"/> meter. Tags are static
/// pairs, so recording allocates nothing; with no listener a recording is a field check.
/// </summary>
internal sealed class CacheMetrics : IDisposable
{
    private static readonly KeyValuePair<string, object?> MemoryTier = new("tier", "memory");
    private static readonly KeyValuePair<string, object?> DiskTier = new("tier", "disk");

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _readBytes;
    private readonly Counter<long> _puts;
    private readonly Counter<long> _putBytes;
    private readonly Counter<long> _putFailures;
    private readonly Counter<long> _evictions;
    private readonly Counter<long> _evictedBytes;
    private readonly Counter<long> _corruptEntries;

    public CacheMetrics(IMeterFactory? meterFactory, Func<CacheUsage> usage)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(ChunkCache.MeterName) ?? new Meter(ChunkCache.MeterName);
        _hits = _meter.CreateCounter<long>("hits", "{read}", "Reads served by the cache, by tier");
        _misses = _meter.CreateCounter<long>("misses", "{read}", "Reads the cache could not serve");
        _readBytes = _meter.CreateCounter<long>("read_bytes", "By", "Bytes served by the cache, by tier");
        _puts = _meter.CreateCounter<long>("puts", "{chunk}", "Chunks written to disk");
        _putBytes = _meter.CreateCounter<long>("put_bytes", "By", "Bytes of chunks written to disk");
        _putFailures = _meter.CreateCounter<long>("put_failures", "{chunk}", "Chunks that could not be written (I/O errors)");
        _evictions = _meter.CreateCounter<long>("evictions", "{chunk}", "Disk entries evicted by the GC");
        _evictedBytes = _meter.CreateCounter<long>("evicted_bytes", "By", "Bytes of disk entries evicted by the GC");
        _corruptEntries = _meter.CreateCounter<long>("corrupt_entries", "{chunk}", "Disk entries that failed verification and were deleted");
        _meter.CreateObservableGauge("disk_bytes", () => usage().DiskBytes, "By", "Bytes of disk entries (in filesystem blocks)");
        _meter.CreateObservableGauge("entries", () => usage().Entries, "{chunk}", "Disk entries");
        _meter.CreateObservableGauge("memory_bytes", () => usage().MemoryBytes, "By", "Bytes held by the memory tier");
    }

    public Meter Meter => _meter;

    public void MemoryHit(int bytes)
    {
        _hits.Add(1, MemoryTier);
        _readBytes.Add(bytes, MemoryTier);
    }

    public void DiskHit(int bytes)
    {
        _hits.Add(1, DiskTier);
        _readBytes.Add(bytes, DiskTier);
    }

    public void Miss() => _misses.Add(1);

    public void Put(int bytes)
    {
        _puts.Add(1);
        _putBytes.Add(bytes);
    }

    public void PutFailure() => _putFailures.Add(1);

    public void Evicted(long bytes)
    {
        _evictions.Add(1);
        _evictedBytes.Add(bytes);
    }

    public void Corrupt() => _corruptEntries.Add(1);

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
