namespace Snapshotter.Cache.Disk;

/// <summary>
/// One chunk file in the index. Deliberately small (no path string): a cache of many small files
/// holds hundreds of thousands of these. Access times are UTC ticks, written without a lock by
/// readers (a lost race between two touches only loses a few ticks of recency).
/// </summary>
internal sealed class DiskEntry(ChunkKey key, long length, long allocated, long lastAccess, int scan)
{
    private long _lastAccess = lastAccess;
    private long _persistedAccess = lastAccess;
    private int _verified;
    private int _seenInScan = scan;

    public ChunkKey Key { get; } = key;

    /// <summary>Bytes of content (the chunk's size).</summary>
    public long Length { get; } = length;

    /// <summary>Bytes it occupies on disk, in whole filesystem blocks; what the budget counts.</summary>
    public long Allocated { get; } = allocated;

    /// <summary>The directory scan during or after which the entry was added.</summary>
    public int AddedInScan { get; } = scan;

    /// <summary>The last directory scan that found the file.</summary>
    public int SeenInScan
    {
        get => Volatile.Read(ref _seenInScan);
        set => Volatile.Write(ref _seenInScan, value);
    }

    public long LastAccess => Volatile.Read(ref _lastAccess);

    /// <summary>Whether this process has checked the file against the chunk digest (or wrote it itself).</summary>
    public bool Verified => Volatile.Read(ref _verified) != 0;

    /// <summary>True when the access time moved since it was last written to the file's atime.</summary>
    public bool AccessNotPersisted => LastAccess > Volatile.Read(ref _persistedAccess);

    public void Touch(long now)
    {
        if (now > Volatile.Read(ref _lastAccess))
        {
            Volatile.Write(ref _lastAccess, now);
        }
    }

    public void MarkVerified() => Volatile.Write(ref _verified, 1);

    public void MarkPersisted(long accessTime) => Volatile.Write(ref _persistedAccess, accessTime);
}
