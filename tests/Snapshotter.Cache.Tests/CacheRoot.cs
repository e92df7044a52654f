using Microsoft.Extensions.Logging;
using Snapshotter.Testing;

namespace Snapshotter.Cache.Tests;

/// <summary>A cache root in a temporary directory, and the caches a test opens on it (disposed with it).</summary>
internal sealed class CacheRoot : IDisposable
{
    private readonly TempDirectory _directory = new("chunk-cache");
    private readonly List<ChunkCache> _opened = [];

    public string Path => _directory.Path;

    public string Chunks => _directory.Combine("chunks");

    public string Temp => _directory.Combine("tmp");

    public ListLogger Logger { get; } = new();

    /// <summary>Options with the free-disk floor off (tests must not depend on the machine's disk) and the given tweaks.</summary>
    public ChunkCacheOptions Options(Func<ChunkCacheOptions, ChunkCacheOptions>? tweak = null)
    {
        var options = new ChunkCacheOptions { Root = Path, MinFreePercent = 0, MaxBytes = 1L << 30, MemoryBytes = 64 * TestChunks.MiB };
        return tweak is null ? options : tweak(options);
    }

    public ChunkCache Open(Func<ChunkCacheOptions, ChunkCacheOptions>? tweak = null, TimeProvider? time = null)
    {
        var cache = ChunkCache.Open(Options(tweak), Logger, time);
        _opened.Add(cache);
        return cache;
    }

    /// <summary>The chunk files on disk and their total size.</summary>
    public IReadOnlyList<FileInfo> ChunkFiles() =>
        Directory.Exists(Chunks) ? new DirectoryInfo(Chunks).EnumerateFiles("*", SearchOption.AllDirectories).ToList() : [];

    public long ChunkFileBytes() => ChunkFiles().Sum(file => file.Length);

    public string EntryPath(ChunkKey key) =>
        System.IO.Path.Combine(Chunks, key.Layer.Hex, key.Chunk.Hex);

    public void Dispose()
    {
        foreach (var cache in _opened)
        {
            cache.Dispose();
        }
        _directory.Dispose();
    }
}

/// <summary>Keeps formatted log messages, for asserting what was logged.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<string> _messages = [];

    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_messages)
        {
            _messages.Add($"{logLevel}: {formatter(state, exception)}");
        }
    }
}
