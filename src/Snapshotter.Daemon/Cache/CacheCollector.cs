using Snapshotter.Cache;

namespace Snapshotter.Daemon;

/// <summary>Runs the chunk cache's GC every <c>[cache] gc_interval_seconds</c> while the daemon runs (containerd's Cleanup runs it too).</summary>
internal sealed class CacheCollector(ChunkCache cache) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => cache.RunPeriodicCollectionAsync(stoppingToken);
}
