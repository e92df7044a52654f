using System.Diagnostics;
using Snapshotter.Cache.Disk;

namespace Snapshotter.Cache;

/// <summary>
/// The GC policy. Two limits: the byte budget (<see cref="ChunkCacheOptions.MaxBytes"/>) and the
/// free-disk floor (<see cref="ChunkCacheOptions.MinFreeBytes"/>/<see cref="ChunkCacheOptions.MinFreePercent"/>).
/// When either is crossed, entries go in this order: those of layers no process leases (not
/// mounted) before those of leased layers, least recently used first within each group, until
/// usage is back at the low watermark and the floor is met with the same headroom. It runs
/// synchronously on a put that would cross a limit (so the budget is never exceeded), every
/// <see cref="ChunkCacheOptions.GcInterval"/>, and when asked (containerd's Cleanup, the CLI).
/// </summary>
public sealed partial class ChunkCache
{
    /// <summary>One GC at a time per process: puts that need room wait for it, other reads and puts do not.</summary>
    private readonly SemaphoreSlim _collecting = new(1, 1);

    /// <summary>Directory scans done, to tell entries a scan missed from entries added since it began.</summary>
    private int _scan;

    public ValueTask<CacheCollection> CollectAsync(CancellationToken cancellationToken) => CollectAsync("requested", cancellationToken);

    /// <summary>
    /// Runs the GC every <see cref="ChunkCacheOptions.GcInterval"/> of the injected clock until
    /// <paramref name="cancellationToken"/> is cancelled (or the cache disposed); for the daemon's
    /// hosted service. A failed run is logged and the next one tried.
    /// </summary>
    public async Task RunPeriodicCollectionAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.GcInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false) && Volatile.Read(ref _disposed) == 0)
            {
                try
                {
                    await CollectAsync("periodic", cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.CollectionFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async ValueTask<CacheCollection> CollectAsync(string trigger, CancellationToken cancellationToken)
    {
        await _collecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = Stopwatch.GetTimestamp();
            var staleFiles = _instance.RemoveStaleFiles();
            // Another process sharing the root may have added or removed entries since the last scan.
            var emptyDirectories = Rescan(cancellationToken);
            PersistAccessTimes();
            var (entries, bytes) = Evict(BytesTarget(), FreeBytesNeeded(0));
            foreach (var directory in emptyDirectories)
            {
                TryRemoveEmptyDirectory(directory);
            }
            var usage = Usage;
            var duration = Stopwatch.GetElapsedTime(started);
            Log.Collected(_logger, trigger, entries, bytes, staleFiles, (long)duration.TotalMilliseconds, usage.DiskBytes, usage.Entries);
            return new CacheCollection(entries, bytes, staleFiles, usage, duration);
        }
        finally
        {
            _collecting.Release();
        }
    }

    /// <summary>
    /// Makes room for <paramref name="incoming"/> bytes, already reserved in the index, evicting
    /// when the budget or the free-disk floor would be crossed. False when even that leaves no room.
    /// </summary>
    private async ValueTask<bool> MakeRoomAsync(long incoming, CancellationToken cancellationToken)
    {
        if (_index.Bytes <= _options.MaxBytes && FreeBytesNeeded(incoming) <= 0)
        {
            return true;
        }
        await _collecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Whoever held the lock before may have made room already; Evict checks again.
            Evict(BytesTarget(), FreeBytesNeeded(incoming));
            return _index.Bytes <= _options.MaxBytes && FreeBytesNeeded(incoming) <= 0;
        }
        finally
        {
            _collecting.Release();
        }
    }

    /// <summary>Over budget: down to the low watermark, so the next puts do not each evict.</summary>
    private long BytesTarget() => _index.Bytes > _options.MaxBytes ? _options.LowWatermarkBytes : _options.MaxBytes;

    /// <summary>
    /// Bytes to delete so that writing <paramref name="incoming"/> leaves the floor free; 0 when
    /// none. Below the floor the cache also shrinks by the low watermark's share of what it holds
    /// (10% by default), for the same reason as over budget: not to evict again on the next put.
    /// </summary>
    private long FreeBytesNeeded(long incoming)
    {
        var space = FileSystemSpace.Of(_layout.Root);
        var floor = Math.Max(_options.MinFreeBytes, (long)(space.TotalBytes * (_options.MinFreePercent / 100)));
        var shortfall = floor + incoming - space.AvailableBytes;
        return shortfall <= 0 ? 0 : shortfall + (long)(_index.Bytes * (1 - (_options.LowWatermarkPercent / 100)));
    }

    /// <summary>Evicts (unleased layers first, then least recently used) until both targets are met. Called under <see cref="_collecting"/>.</summary>
    private (int Entries, long Bytes) Evict(long bytesTarget, long freeBytesNeeded)
    {
        if (_index.Bytes <= bytesTarget && freeBytesNeeded <= 0)
        {
            return (0, 0);
        }
        var leased = _instance.LeasedLayers();
        var candidates = _index.Entries
            .Select(entry => (Entry: entry, Leased: leased.Contains(entry.Key.Layer), entry.LastAccess))
            .ToList();
        candidates.Sort(static (a, b) => a.Leased != b.Leased ? a.Leased.CompareTo(b.Leased) : a.LastAccess.CompareTo(b.LastAccess));
        var entries = 0;
        long freed = 0;
        foreach (var (entry, _, _) in candidates)
        {
            if (_index.Bytes <= bytesTarget && freed >= freeBytesNeeded)
            {
                break;
            }
            if (!_index.Remove(entry))
            {
                continue; // replaced or removed meanwhile
            }
            ChunkFiles.DeleteQuietly(PathOf(entry));
            entries++;
            freed += entry.Allocated;
            _metrics.Evicted(entry.Allocated);
        }
        return (entries, freed);
    }

    /// <summary>
    /// Brings the index in line with chunks/: indexes files it lacks (written by another process,
    /// or all of them at open) and drops entries whose files are gone. Zero-length files are torn
    /// writes (a power loss after the rename reached the disk but the data did not) and are
    /// deleted at once. Returns the empty directories it saw.
    /// </summary>
    private List<string> Rescan(CancellationToken cancellationToken)
    {
        var scan = Interlocked.Increment(ref _scan);
        var emptyDirectories = new List<string>();
        foreach (var file in EntryScanner.Scan(_layout, emptyDirectories.Add, cancellationToken))
        {
            if (_index.TryGet(file.Key, out var known))
            {
                known.SeenInScan = scan;
                continue;
            }
            if (file.Length == 0)
            {
                ChunkFiles.DeleteQuietly(_layout.EntryPath(file.Key));
                _metrics.Corrupt();
                Log.CorruptEntry(_logger, file.Key.Layer, file.Key.Chunk, "empty");
                continue;
            }
            _index.Add(new DiskEntry(file.Key, file.Length, FileSystemSpace.Allocated(file.Length, _blockSize), file.LastAccess, scan));
        }
        foreach (var entry in _index.Entries)
        {
            if (entry.SeenInScan < scan && entry.AddedInScan < scan)
            {
                _index.Remove(entry);
            }
        }
        return emptyDirectories;
    }

    /// <summary>
    /// Writes access times that moved since the last run to the files' atime, so the LRU order
    /// survives a restart (to within one GC interval) without a write on every read.
    /// </summary>
    private void PersistAccessTimes()
    {
        foreach (var entry in _index.Entries)
        {
            if (!entry.AccessNotPersisted)
            {
                continue;
            }
            var accessed = entry.LastAccess;
            try
            {
                File.SetLastAccessTimeUtc(PathOf(entry), new DateTime(accessed, DateTimeKind.Utc));
                entry.MarkPersisted(accessed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile; the next scan drops it
            }
        }
    }

    private static void TryRemoveEmptyDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // filled again meanwhile, or already gone
        }
    }
}
