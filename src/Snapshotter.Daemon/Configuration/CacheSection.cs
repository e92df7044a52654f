using Snapshotter.Cache;
using Tomlyn.Model;

namespace Snapshotter.Daemon;

/// <summary>The <c>[cache]</c> section: where verified chunks are kept and the GC policy that bounds them.</summary>
public sealed record CacheConfig
{
    /// <summary>The cache directory; empty: <c>&lt;root&gt;/cache</c>.</summary>
    public string Directory { get; init; } = "";

    public long MaxBytes { get; init; } = ChunkCacheOptions.DefaultMaxBytes;

    public double LowWatermarkPercent { get; init; } = ChunkCacheOptions.DefaultLowWatermarkPercent;

    public long MinFreeBytes { get; init; }

    public double MinFreePercent { get; init; } = ChunkCacheOptions.DefaultMinFreePercent;

    public long MemoryBytes { get; init; } = ChunkCacheOptions.DefaultMemoryBytes;

    public TimeSpan GcInterval { get; init; } = ChunkCacheOptions.DefaultGcInterval;

    public bool SyncWrites { get; init; }

    public ChunkCacheOptions ToOptions(string root) => new()
    {
        Root = Directory.Length > 0 ? Directory : Path.Combine(root, "cache"),
        MaxBytes = MaxBytes,
        LowWatermarkPercent = LowWatermarkPercent,
        MinFreeBytes = MinFreeBytes,
        MinFreePercent = MinFreePercent,
        MemoryBytes = MemoryBytes,
        GcInterval = GcInterval,
        SyncWrites = SyncWrites,
    };

    internal static CacheConfig FromToml(TomlTable table, TomlValues values)
    {
        var config = new CacheConfig();
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "directory" => config with { Directory = values.Text(key, value) },
                "max_bytes" => config with { MaxBytes = values.Integer(key, value) },
                "low_watermark_percent" => config with { LowWatermarkPercent = Percent(values, key, value) },
                "min_free_bytes" => config with { MinFreeBytes = values.Integer(key, value) },
                "min_free_percent" => config with { MinFreePercent = Percent(values, key, value) },
                "memory_bytes" => config with { MemoryBytes = values.Integer(key, value) },
                "gc_interval_seconds" => config with { GcInterval = values.Seconds(key, value) },
                "sync_writes" => config with { SyncWrites = values.Flag(key, value) },
                _ => throw values.Unknown(key),
            };
        }
        return config;
    }

    internal void Validate(TomlValues values)
    {
        if (Directory.Length > 0 && !Path.IsPathFullyQualified(Directory))
        {
            throw values.Error("directory", $"must be empty or an absolute path, got '{Directory}'");
        }
        if (GcInterval < TimeSpan.FromSeconds(1))
        {
            throw values.Error("gc_interval_seconds", "must be at least 1");
        }
    }

    private static double Percent(TomlValues values, string key, object value)
    {
        var percent = values.Number(key, value);
        return percent is >= 0 and <= 100 ? percent : throw values.Error(key, "must be between 0 and 100");
    }
}
