using System.Collections.Concurrent;

namespace Snapshotter.Fuse.Server;

/// <summary>
/// Open files that the kernel reads through a backing file. The kernel needs the backing id
/// until it has finished the open, so the id is kept until RELEASE; the reply carries a server
/// token (high bit set) as the file handle, which RELEASE brings back.
/// </summary>
internal sealed class PassthroughHandles
{
    public const ulong TokenBit = 1UL << 63;
    private readonly ConcurrentDictionary<ulong, (ulong Handle, int BackingId)> _open = new();
    private long _next;

    public int Count => _open.Count;

    public ulong Add(ulong handle, int backingId)
    {
        var token = TokenBit | (ulong)Interlocked.Increment(ref _next);
        _open[token] = (handle, backingId);
        return token;
    }

    public bool TryRemove(ulong token, out ulong handle, out int backingId)
    {
        if ((token & TokenBit) != 0 && _open.TryRemove(token, out var entry))
        {
            (handle, backingId) = entry;
            return true;
        }
        (handle, backingId) = (token, -1);
        return false;
    }

    /// <summary>The file system's handle behind <paramref name="fh"/>.</summary>
    public ulong Translate(ulong fh) =>
        (fh & TokenBit) != 0 && _open.TryGetValue(fh, out var entry) ? entry.Handle : fh;

    /// <summary>Releases every backing id (files the kernel still has open keep their own reference).</summary>
    public void CloseAll(IFuseTransport transport)
    {
        foreach (var token in _open.Keys)
        {
            if (_open.TryRemove(token, out var entry))
            {
                transport.CloseBacking(entry.BackingId);
            }
        }
    }
}
