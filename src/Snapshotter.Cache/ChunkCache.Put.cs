using Snapshotter.Cache.Disk;

namespace Snapshotter.Cache;

public sealed partial class ChunkCache
{
    /// <remarks><paramref name="data"/> must stay unchanged until the returned task completes.</remarks>
    public async ValueTask PutAsync(ChunkKey key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken, bool keepInMemory = true)
    {
        if (data.IsEmpty)
        {
            return;
        }
        if (keepInMemory)
        {
            _memory.AddCopy(key.Chunk.Value, data.Span);
        }
        var allocated = FileSystemSpace.Allocated(data.Length, _blockSize);
        if (data.Length > MaxChunkBytes || allocated > _options.MaxBytes)
        {
            return;
        }
        if (_index.TryGet(key, out var existing))
        {
            existing.Touch(Now);
            return;
        }
        if (!_writing.TryAdd(key, 0))
        {
            return; // another put of this chunk is writing it
        }
        // The bytes are counted before they are written, so concurrent puts cannot together
        // overshoot the budget.
        _index.Reserve(allocated);
        var reserved = true;
        try
        {
            if (!await MakeRoomAsync(allocated, cancellationToken).ConfigureAwait(false))
            {
                Log.NoRoom(_logger, key.Layer, key.Chunk, allocated);
                return;
            }
            if (_layerDirectories.TryAdd(key.Layer, 0))
            {
                // A GC may still remove it once empty; the rename then creates it again.
                Directory.CreateDirectory(_layout.LayerDirectory(key.Layer));
            }
            ChunkFiles.WriteAtomically(_instance.NextTempPath(), _layout.EntryPath(key), data.Span, _options.SyncWrites);
            var entry = new DiskEntry(key, data.Length, allocated, Now, _scan);
            entry.MarkVerified(); // the caller verified these bytes and this process wrote them
            _index.Add(entry, reserved: allocated);
            reserved = false;
            _metrics.Put(data.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _metrics.PutFailure();
            Log.PutFailed(_logger, key.Layer, key.Chunk, e);
        }
        finally
        {
            if (reserved)
            {
                _index.CancelReservation(allocated);
            }
            _writing.TryRemove(key, out _);
        }
    }
}
