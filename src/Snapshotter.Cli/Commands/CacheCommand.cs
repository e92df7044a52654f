using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Snapshotter.Cache;

namespace Snapshotter.Cli.Commands;

/// <summary>
/// <c>stargzctl cache gc</c>: runs the chunk cache's GC once on the daemon's cache directory, with the
/// budget and free-disk floor given (pass the daemon's <c>[cache]</c> values). Safe while the daemon
/// runs: entries of mounted layers (their leases are visible across processes) go last.
/// </summary>
internal static class CacheCommand
{
    public static Command Create()
    {
        var directory = new Option<string>("--cache-dir") { Description = "the cache directory (the daemon's [cache] directory, default <root>/cache)", DefaultValueFactory = _ => "/var/lib/stargz-snapshotter/cache" };
        var maxBytes = new Option<long>("--max-bytes") { Description = "budget for all cached chunks, bytes", DefaultValueFactory = _ => ChunkCacheOptions.DefaultMaxBytes };
        var lowWatermark = new Option<double>("--low-watermark-percent") { Description = "once over budget, evict down to this percentage of it", DefaultValueFactory = _ => ChunkCacheOptions.DefaultLowWatermarkPercent };
        var minFreeBytes = new Option<long>("--min-free-bytes") { Description = "free space to keep on the cache's filesystem, bytes" };
        var minFreePercent = new Option<double>("--min-free-percent") { Description = "free space to keep on the cache's filesystem, percent", DefaultValueFactory = _ => ChunkCacheOptions.DefaultMinFreePercent };
        var json = new Option<bool>("--json") { Description = "print the result as JSON" };
        var gc = new Command("gc", "evict cached chunks down to the budget and the free-disk floor (unmounted layers first, then least recently used)")
        {
            directory, maxBytes, lowWatermark, minFreeBytes, minFreePercent, json,
        };
        gc.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var root = result.GetRequiredValue(directory);
            if (!Directory.Exists(root))
            {
                throw new UsageException($"no cache directory at {root}");
            }
            var options = new ChunkCacheOptions
            {
                Root = root,
                MaxBytes = result.GetValue(maxBytes),
                LowWatermarkPercent = result.GetValue(lowWatermark),
                MinFreeBytes = result.GetValue(minFreeBytes),
                MinFreePercent = result.GetValue(minFreePercent),
                MemoryBytes = 0,
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            var collection = await ChunkCache.CollectOnceAsync(options, null, cancellationToken);
            Console.WriteLine(result.GetValue(json)
                ? JsonSerializer.Serialize(new CacheGcSummary(collection.EntriesEvicted, collection.BytesFreed, collection.StaleFilesRemoved,
                    collection.Usage.Entries, collection.Usage.DiskBytes, (long)collection.Duration.TotalMilliseconds), CliJsonContext.Default.CacheGcSummary)
                : string.Create(CultureInfo.InvariantCulture,
                    $"evicted {collection.EntriesEvicted} chunks ({collection.BytesFreed} bytes), removed {collection.StaleFilesRemoved} stale files; the cache holds {collection.Usage.Entries} chunks, {collection.Usage.DiskBytes} bytes"));
            return ExitCodes.Success;
        }));
        return new Command("cache", "the daemon's chunk cache") { gc };
    }
}

/// <summary>What <c>cache gc --json</c> prints.</summary>
internal sealed record CacheGcSummary(int EvictedEntries, long FreedBytes, int StaleFilesRemoved, long Entries, long DiskBytes, long Milliseconds);

/// <summary>Serialization without reflection: <c>stargzctl</c> is compiled ahead of time (native AOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(CacheGcSummary))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
