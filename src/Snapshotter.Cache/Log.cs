using Microsoft.Extensions.Logging;
using Snapshotter.Oci;

namespace Snapshotter.Cache;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Chunk cache: entry {Chunk} of layer {Layer} is corrupt ({Reason}); deleted, it will be fetched again")]
    public static partial void CorruptEntry(ILogger logger, Digest layer, Digest chunk, string reason);

    [LoggerMessage(2, LogLevel.Information, "Chunk cache GC ({Trigger}): evicted {Entries} entries ({Bytes} bytes), removed {StaleFiles} stale files in {Milliseconds} ms; {DiskBytes} bytes in {Count} entries remain")]
    public static partial void Collected(ILogger logger, string trigger, int entries, long bytes, int staleFiles, long milliseconds, long diskBytes, long count);

    [LoggerMessage(3, LogLevel.Warning, "Chunk cache: storing chunk {Chunk} of layer {Layer} failed; it is not cached")]
    public static partial void PutFailed(ILogger logger, Digest layer, Digest chunk, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "Chunk cache: could not write the lease file {Path}; other processes' GC will not see this process's leases")]
    public static partial void LeaseFileFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(5, LogLevel.Error, "Chunk cache: periodic GC failed")]
    public static partial void CollectionFailed(ILogger logger, Exception exception);

    [LoggerMessage(6, LogLevel.Information, "Chunk cache at {Root}: {Count} entries, {DiskBytes} bytes on disk; budget {MaxBytes} bytes, memory tier {MemoryBytes} bytes")]
    public static partial void Opened(ILogger logger, string root, long count, long diskBytes, long maxBytes, long memoryBytes);

    [LoggerMessage(7, LogLevel.Debug, "Chunk cache: no room for chunk {Chunk} of layer {Layer} ({Bytes} bytes) within the budget and free-disk floor; not cached")]
    public static partial void NoRoom(ILogger logger, Digest layer, Digest chunk, long bytes);

    [LoggerMessage(8, LogLevel.Warning, "Chunk cache: removing the entries of layer {Layer} failed")]
    public static partial void ForgetFailed(ILogger logger, Digest layer, Exception exception);
}
