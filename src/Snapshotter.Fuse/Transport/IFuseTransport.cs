namespace Snapshotter.Fuse;

/// <summary>
/// A FUSE connection as the server sees it: /dev/fuse (<see cref="FuseDevice"/>) or an in-memory
/// pipe for tests (<see cref="InMemoryFuseTransport"/>). Requests are read from channels; a reply
/// goes back on the channel its request came from.
/// </summary>
public interface IFuseTransport
{
    /// <summary>
    /// Opens a channel to read requests on: the connection's own (<paramref name="clone"/> false;
    /// not closed with the channel) or an extra queue of the same connection (FUSE_DEV_IOC_CLONE).
    /// </summary>
    IFuseChannel OpenChannel(bool clone);

    /// <summary>
    /// Registers <paramref name="file"/> as a passthrough backing file and returns its backing id,
    /// or a negative errno (ENOSYS for a transport without passthrough).
    /// </summary>
    int OpenBacking(Microsoft.Win32.SafeHandles.SafeFileHandle file);

    /// <summary>Releases a backing id from <see cref="OpenBacking"/>; returns 0 or an errno.</summary>
    int CloseBacking(int backingId);
}

/// <summary>One queue of a FUSE connection, read by one reader thread.</summary>
public interface IFuseChannel : IDisposable
{
    /// <summary>
    /// Blocks until a request arrives and copies it into <paramref name="buffer"/>; returns its
    /// length, or 0 when the connection ended (unmounted or aborted) or <see cref="CancelRead"/>
    /// was called.
    /// </summary>
    int Read(Span<byte> buffer);

    /// <summary>
    /// Writes one reply or notification made of <paramref name="header"/> followed by
    /// <paramref name="payload"/> in a single write; returns 0 or an errno (ENOENT: the request
    /// was interrupted meanwhile).
    /// </summary>
    int Write(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload);

    /// <summary>Wakes a blocked <see cref="Read"/>, which returns 0 from now on.</summary>
    void CancelRead();
}
