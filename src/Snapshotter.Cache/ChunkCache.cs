using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Cache.Disk;
using Snapshotter.Cache.Memory;
using Snapshotter.Oci;

namespace Snapshotter.Cache;

/// <summary>
/// The chunk cache on a root directory (see <see cref="CacheLayout"/> for what is where): a
/// <see cref="MemoryTier"/> over atomic, verified disk entries, with an in-memory index rebuilt
/// from a directory scan at open, so it survives restarts without a journal. Several processes
/// may open one root at once (the daemon and <c>stargzctl cache gc</c>): every change on disk is
/// a rename or an unlink, and each sees the others' leases.
/// </summary>
public sealed partial class ChunkCache : IChunkCache, IDisposable
{
    /// <summary>The <see cref="Meter"/> the cache's instruments are on.</summary>
    public const string MeterName = "Snapshotter.Cache";

    /// <summary>Chunks above this are not cached (the eStargz reader refuses them too); disk files above it are corrupt.</summary>
    public const int MaxChunkBytes = 64 * 1024 * 1024;

    private readonly ChunkCacheOptions _options;
    private readonly CacheLayout _layout;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DiskIndex _index = new();
    private readonly MemoryTier _memory;
    private readonly CacheInstance _instance;
    private readonly CacheMetrics _metrics;
    private readonly int _blockSize;

    /// <summary>Chunks being written now, so concurrent puts of one chunk write it once.</summary>
    private readonly ConcurrentDictionary<ChunkKey, byte> _writing = new();

    /// <summary>Layer directories this process has made sure of, so a put need not try (and fail) a rename first.</summary>
    private readonly ConcurrentDictionary<Digest, byte> _layerDirectories = new();

    private int _disposed;

    private ChunkCache(ChunkCacheOptions options, CacheLayout layout, CacheInstance instance, ILogger logger, TimeProvider time, IMeterFactory? meterFactory)
    {
        _options = options;
        _layout = layout;
        _instance = instance;
        _logger = logger;
        _time = time;
        _memory = new MemoryTier(options.MemoryBytes);
        _blockSize = FileSystemSpace.Of(layout.Root).BlockSize;
        _metrics = new CacheMetrics(meterFactory, () => Usage);
    }

    /// <summary>
    /// Opens (creating if needed) the cache at <see cref="ChunkCacheOptions.Root"/>: removes what
    /// dead processes left in tmp/ and indexes the entries on disk, their last use taken from the
    /// files' atime/mtime. Entries are verified lazily, on first read.
    /// </summary>
    /// <param name="timeProvider">The clock for access times and the periodic GC; the system clock when null.</param>
    /// <param name="meterFactory">Creates the <see cref="MeterName"/> meter; a meter of its own when null.</param>
    public static ChunkCache Open(ChunkCacheOptions options, ILogger? logger = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        logger ??= NullLogger.Instance;
        var layout = new CacheLayout(options.Root);
        layout.CreateDirectories();
        var instance = CacheInstance.Register(layout, logger);
        ChunkCache? cache = null;
        try
        {
            cache = new ChunkCache(options, layout, instance, logger, timeProvider ?? TimeProvider.System, meterFactory);
            instance.RemoveStaleFiles();
            cache.Rescan(CancellationToken.None);
            Log.Opened(logger, layout.Root, cache._index.Count, cache._index.Bytes, options.MaxBytes, options.MemoryBytes);
            return cache;
        }
        catch
        {
            if (cache is null)
            {
                instance.Dispose();
            }
            cache?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the cache at <paramref name="options"/>' root, runs the GC once and closes it: what
    /// <c>stargzctl cache gc</c> does. Safe while a daemon uses the same root (its leases are honoured).
    /// </summary>
    public static async Task<CacheCollection> CollectOnceAsync(ChunkCacheOptions options, ILogger? logger, CancellationToken cancellationToken)
    {
        using var cache = Open(options, logger);
        return await cache.CollectAsync(cancellationToken).ConfigureAwait(false);
    }

    public CacheUsage Usage => new(_index.Bytes, _index.Count, _memory.Bytes);

    public ChunkCacheOptions Options => _options;

    /// <summary>This instance's meter (for tests that listen to one cache among several).</summary>
    internal Meter Meter => _metrics.Meter;

    internal IEnumerable<ChunkKey> IndexedKeys() => _index.Entries.Select(entry => entry.Key);

    public bool Contains(in ChunkKey key) => _memory.Contains(key.Chunk.Value) || _index.Contains(key);

    public bool ContainsOnDisk(in ChunkKey key) => _index.Contains(key);

    public IDisposable AcquireLayer(Digest layer) => _instance.Acquire(layer);

    public void ForgetLayer(Digest layer)
    {
        _layerDirectories.TryRemove(layer, out _);
        foreach (var entry in _index.EntriesOf(layer))
        {
            _index.Remove(entry);
        }
        try
        {
            Directory.Delete(_layout.LayerDirectory(layer), recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A put racing with the delete; the next GC scan indexes what is left, and it goes
            // first as an unleased layer.
            Log.ForgetFailed(_logger, layer, e);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _instance.Dispose();
        _memory.Dispose();
        _metrics.Dispose();
        _collecting.Dispose();
    }

    private long Now => _time.GetUtcNow().UtcTicks;

    private string PathOf(DiskEntry entry) => _layout.EntryPath(entry.Key);
}
