namespace Snapshotter.Fs;

/// <summary>
/// Bytes of passthrough backing files all layers may hold together: a file that would exceed it is
/// simply served through user space. Shared by a daemon's mounts; thread-safe.
/// </summary>
public sealed class PassthroughBudget(long maxBytes)
{
    private long _used;

    public long MaxBytes { get; } = maxBytes >= 0 ? maxBytes : throw new ArgumentOutOfRangeException(nameof(maxBytes));

    public long UsedBytes => Interlocked.Read(ref _used);

    internal bool TryReserve(long bytes)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > MaxBytes)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used)
            {
                return true;
            }
        }
    }

    internal void Release(long bytes) => Interlocked.Add(ref _used, -bytes);
}
