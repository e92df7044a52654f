using System.Buffers;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Cache.Memory;

namespace Snapshotter.Cache.Disk;

/// <summary>The file operations of the disk store: atomic publish of an entry, whole and positional reads.</summary>
internal static class ChunkFiles
{
    /// <summary>
    /// Writes <paramref name="data"/> to <paramref name="tempPath"/> and renames it to
    /// <paramref name="path"/>, so a reader (or a crash) sees either no entry or a whole one. A
    /// rename over an existing entry (a concurrent put of the same chunk, maybe from another
    /// process) replaces identical content. The temp file is removed on any failure.
    /// </summary>
    /// <remarks>
    /// A prefetch puts a thousand chunks in a second, so each put keeps its syscalls few. The file is
    /// written in one call, so it is not preallocated (fallocate would allocate its blocks at once,
    /// where delayed allocation does it at writeback), and synchronously: the write lands in the page
    /// cache in microseconds, where RandomAccess.WriteAsync would move the same pwrite(2) to another
    /// pool thread. (The daemon also turns the runtime's implicit flock off: Snapshotter.Daemon.csproj.)
    /// </remarks>
    public static void WriteAtomically(string tempPath, string path, ReadOnlySpan<byte> data, bool sync)
    {
        try
        {
            using (var handle = File.OpenHandle(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, data, 0);
                if (sync)
                {
                    RandomAccess.FlushToDisk(handle);
                }
            }
            Publish(tempPath, path);
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
    }

    /// <summary>
    /// Reads a whole entry into a pooled chunk; null when the file is longer than
    /// <paramref name="maxLength"/> (it cannot be a chunk this cache wrote).
    /// </summary>
    public static async ValueTask<PooledChunk?> ReadWholeAsync(string path, int maxLength, MemoryTier tier, CancellationToken cancellationToken)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        if (length > maxLength)
        {
            return null;
        }
        var chunk = tier.Rent((int)length);
        try
        {
            var read = await ReadFullyAsync(handle, chunk.WritableMemory, 0, cancellationToken).ConfigureAwait(false);
            if (read != length)
            {
                chunk.Release();
                return null; // truncated under us: as good as corrupt
            }
            return chunk;
        }
        catch
        {
            chunk.Release();
            throw;
        }
    }

    /// <summary>
    /// Reads <c>destination.Length</c> bytes at <paramref name="offset"/>; false when the file is
    /// shorter. Synchronous on purpose: a read of a cached chunk is served from the page cache in
    /// microseconds, and RandomAccess.ReadAsync on Linux would only move the same blocking pread(2)
    /// to a thread-pool thread, adding a hop that costs more than the read (CacheBenchmarks).
    /// </summary>
    public static bool TryReadRange(string path, long offset, Span<byte> destination)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var total = 0;
        while (total < destination.Length)
        {
            var read = RandomAccess.Read(handle, destination[total..], offset + total);
            if (read == 0)
            {
                return false;
            }
            total += read;
        }
        return true;
    }

    public static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void Publish(string tempPath, string path)
    {
        // The layer's directory may not exist yet, or a GC (maybe another process's) may have
        // just removed it as empty; creating it again and retrying settles that race.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                File.Move(tempPath, path, overwrite: true);
                return;
            }
            catch (DirectoryNotFoundException) when (attempt < 3)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            }
        }
    }

    private static async ValueTask<int> ReadFullyAsync(SafeFileHandle handle, Memory<byte> destination, long offset, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = await RandomAccess.ReadAsync(handle, destination[total..], offset + total, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            total += read;
        }
        return total;
    }
}
