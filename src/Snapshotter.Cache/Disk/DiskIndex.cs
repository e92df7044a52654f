using System.Collections.Concurrent;
using Snapshotter.Oci;

namespace Snapshotter.Cache.Disk;

/// <summary>
/// The in-memory view of chunks/: which entries exist, their sizes and access times, and the
/// bytes they occupy plus the bytes reserved by writes in progress. Rebuilt from a directory scan
/// at open, so nothing of it needs to be written down. Thread-safe, lock-free for lookups.
/// </summary>
internal sealed class DiskIndex
{
    private readonly ConcurrentDictionary<ChunkKey, DiskEntry> _entries = new();
    private long _bytes;

    /// <summary>Allocated bytes of all entries plus outstanding reservations.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public int Count => _entries.Count;

    public bool TryGet(in ChunkKey key, out DiskEntry entry) => _entries.TryGetValue(key, out entry!);

    public bool Contains(in ChunkKey key) => _entries.ContainsKey(key);

    /// <summary>Counts bytes a write is about to occupy, before the entry exists.</summary>
    public void Reserve(long bytes) => Interlocked.Add(ref _bytes, bytes);

    public void CancelReservation(long bytes) => Interlocked.Add(ref _bytes, -bytes);

    /// <summary>Adds or replaces the entry for its key; <paramref name="reserved"/> bytes were already counted.</summary>
    public void Add(DiskEntry entry, long reserved = 0)
    {
        Interlocked.Add(ref _bytes, entry.Allocated - reserved);
        while (true)
        {
            if (_entries.TryAdd(entry.Key, entry))
            {
                return;
            }
            if (_entries.TryGetValue(entry.Key, out var existing) && _entries.TryUpdate(entry.Key, entry, existing))
            {
                Interlocked.Add(ref _bytes, -existing.Allocated);
                return;
            }
        }
    }

    /// <summary>Removes the entry if it is still the one indexed for its key (not a newer write of it).</summary>
    public bool Remove(DiskEntry entry)
    {
        if (!_entries.TryRemove(new KeyValuePair<ChunkKey, DiskEntry>(entry.Key, entry)))
        {
            return false;
        }
        Interlocked.Add(ref _bytes, -entry.Allocated);
        return true;
    }

    /// <summary>A weakly consistent walk: entries added or removed meanwhile may or may not appear.</summary>
    public IEnumerable<DiskEntry> Entries => _entries.Select(pair => pair.Value);

    public IEnumerable<DiskEntry> EntriesOf(Digest layer) => Entries.Where(entry => entry.Key.Layer == layer);
}
