using Snapshotter.Cache.Disk;
using Snapshotter.Cache.Memory;

namespace Snapshotter.Cache;

public sealed partial class ChunkCache
{
    public bool TryCopyFromMemory(in ChunkKey key, int offset, Span<byte> destination)
    {
        if (!_memory.TryCopy(key.Chunk.Value, offset, destination))
        {
            return false;
        }
        _metrics.MemoryHit(destination.Length);
        // A chunk hot in memory must not look cold to the disk GC.
        if (_index.TryGet(key, out var entry))
        {
            entry.Touch(Now);
        }
        return true;
    }

    public async ValueTask<bool> TryReadAsync(ChunkKey key, int offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (TryCopyFromMemory(key, offset, destination.Span))
        {
            return true;
        }
        if (!_index.TryGet(key, out var entry))
        {
            _metrics.Miss();
            return false;
        }
        entry.Touch(Now);
        bool served;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            served = entry.Verified
                ? TryReadVerified(entry, offset, destination.Span)
                : await TryVerifyAndReadAsync(entry, offset, destination, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Evicted or forgotten by another process sharing the root.
            _index.Remove(entry);
            served = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Corrupt(entry, "unreadable: " + e.Message);
            served = false;
        }
        if (served)
        {
            _metrics.DiskHit(destination.Length);
        }
        else
        {
            _metrics.Miss();
        }
        return served;
    }

    /// <summary>A positional read of just the range: the entry was verified by this process before.</summary>
    private bool TryReadVerified(DiskEntry entry, int offset, Span<byte> destination)
    {
        MemoryTier.CheckRange(entry.Length, offset, destination.Length);
        if (ChunkFiles.TryReadRange(PathOf(entry), offset, destination))
        {
            return true;
        }
        Corrupt(entry, "shorter than when it was verified");
        return false;
    }

    /// <summary>
    /// The first read of an entry in this process: reads it whole, checks its sha256 against the
    /// chunk digest, and only then serves from it. The whole chunk is in memory by then, so it
    /// goes to the memory tier, where the reads that follow (the kernel reads a 4 MiB chunk in
    /// 128 KiB–1 MiB pieces) find it.
    /// </summary>
    private async ValueTask<bool> TryVerifyAndReadAsync(DiskEntry entry, int offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var chunk = await ChunkFiles.ReadWholeAsync(PathOf(entry), MaxChunkBytes, _memory, cancellationToken).ConfigureAwait(false);
        if (chunk is null)
        {
            Corrupt(entry, "longer than any chunk, or truncated while read");
            return false;
        }
        var handedOver = false;
        try
        {
            if (chunk.Length != entry.Length || !entry.Key.Chunk.Matches(chunk.Span))
            {
                Corrupt(entry, chunk.Length == 0 ? "empty" : "content does not match the chunk digest");
                return false;
            }
            entry.MarkVerified();
            MemoryTier.CheckRange(chunk.Length, offset, destination.Length);
            chunk.Span.Slice(offset, destination.Length).CopyTo(destination.Span);
            handedOver = true;
            _memory.Add(entry.Key.Chunk.Value, chunk);
            return true;
        }
        finally
        {
            if (!handedOver)
            {
                chunk.Release();
            }
        }
    }

    /// <summary>Never serves it again: out of the index, off the disk, counted and logged.</summary>
    private void Corrupt(DiskEntry entry, string reason)
    {
        if (_index.Remove(entry))
        {
            ChunkFiles.DeleteQuietly(PathOf(entry));
        }
        _metrics.Corrupt();
        Log.CorruptEntry(_logger, entry.Key.Layer, entry.Key.Chunk, reason);
    }
}
