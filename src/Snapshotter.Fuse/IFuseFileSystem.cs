using Microsoft.Win32.SafeHandles;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse;

/// <summary>
/// The logic of a read-only FUSE file system, addressed by node id (1 is the root). Every
/// synchronous member returns 0 on success or a positive errno (<see cref="Errno"/>); names are
/// the raw bytes of one path component. Members are called concurrently from several reader
/// threads and must be thread-safe. They run on a reader thread, so only
/// <see cref="ReadAsync"/> may wait for I/O: it is the one member that completes asynchronously.
/// A member that throws is answered with EIO (or <see cref="FuseException.Errno"/>) and logged.
/// </summary>
public interface IFuseFileSystem
{
    /// <summary>
    /// Finds <paramref name="name"/> in directory <paramref name="parent"/>. On success the
    /// kernel holds one more reference to <c>entry.NodeId</c>, released later by
    /// <see cref="Forget"/>. ENOENT is the normal answer for a missing name; a file system whose
    /// names never appear may instead answer 0 with <c>entry.NodeId</c> 0 and an entry timeout, a
    /// negative entry the kernel then caches for that long (and holds no reference for).
    /// </summary>
    int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseEntry entry);

    /// <summary>The kernel drops <paramref name="lookupCount"/> references to a node (FORGET and BATCH_FORGET; no reply).</summary>
    void Forget(ulong nodeId, ulong lookupCount);

    /// <summary>Attributes of a node and how long the kernel may cache them.</summary>
    int GetAttr(ulong nodeId, out FuseAttr attr, out TimeSpan validFor);

    /// <summary>Writes a symlink's target into <paramref name="target"/> (4096 bytes) and its length.</summary>
    int ReadLink(ulong nodeId, Span<byte> target, out int length);

    /// <summary>
    /// Opens a regular file (<paramref name="flags"/> are the open(2) flags). A result with a
    /// <see cref="FuseOpenResult.PassthroughFile"/> asks the server to let the kernel read that
    /// file directly (FUSE passthrough); the server then owns and closes that handle, and falls
    /// back to <see cref="ReadAsync"/> when the connection has no passthrough.
    /// </summary>
    int Open(ulong nodeId, int flags, out FuseOpenResult result);

    /// <summary>
    /// Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/> into
    /// <paramref name="buffer"/> and returns the count (less only at end of file). May complete
    /// asynchronously; <paramref name="cancellationToken"/> fires when the kernel interrupts the
    /// request or the server stops. Throw <see cref="FuseException"/> to answer an errno.
    /// </summary>
    ValueTask<int> ReadAsync(ulong nodeId, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>The last close of a handle from <see cref="Open"/>.</summary>
    int Release(ulong nodeId, ulong handle);

    /// <summary>Opens a directory; the handle comes back in <see cref="ReadDirectory"/> and <see cref="ReleaseDirectory"/>.</summary>
    int OpenDirectory(ulong nodeId, out ulong handle, out FuseOpenFlags flags);

    /// <summary>
    /// True when <see cref="ReadDirectory"/> needs no handle and a directory open may always be
    /// answered with the kernel's caching (<c>FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR</c>). The server
    /// then lets a kernel that offers zero-message opendir (Linux 5.1+) skip OPENDIR and
    /// RELEASEDIR for the whole connection: two round trips per directory opened.
    /// </summary>
    bool DirectoriesNeedNoOpen => false;

    /// <summary>
    /// True when <see cref="ReadAsync"/> needs no handle and every regular file's pages may be kept
    /// (<c>FOPEN_KEEP_CACHE</c>, no direct I/O, no passthrough). The server then lets a kernel that
    /// offers zero-message open (protocol 7.23, Linux 4.5+) skip OPEN, RELEASE and FLUSH for the whole
    /// connection: <see cref="Open"/> and <see cref="Release"/> are no longer called, and reads
    /// come with handle 0.
    /// </summary>
    bool FilesNeedNoOpen => false;

    /// <summary>
    /// Lists entries starting after position <paramref name="offset"/> (0: from the start) into
    /// <paramref name="writer"/> until it refuses one. Each entry carries the offset of the next
    /// one. With <see cref="FuseDirectoryWriter.IsPlus"/> (READDIRPLUS), every accepted entry
    /// other than "." and ".." with a non-zero node id counts as one lookup of that node.
    /// </summary>
    int ReadDirectory(ulong nodeId, ulong handle, long offset, ref FuseDirectoryWriter writer);

    int ReleaseDirectory(ulong nodeId, ulong handle);

    int StatFs(ulong nodeId, out FuseStatFs stat);

    /// <summary>
    /// Copies as much of extended attribute <paramref name="name"/> as fits into
    /// <paramref name="value"/> and sets <paramref name="length"/> to its full length (the
    /// server answers size probes and ERANGE). ENODATA when the node has no such attribute.
    /// </summary>
    int GetXattr(ulong nodeId, ReadOnlySpan<byte> name, Span<byte> value, out int length);

    /// <summary>Like <see cref="GetXattr"/>, for the list of names, each followed by a NUL byte.</summary>
    int ListXattr(ulong nodeId, Span<byte> names, out int length);

    /// <summary>access(2) check; <paramref name="mask"/> is R_OK/W_OK/X_OK (F_OK = 0).</summary>
    int Access(ulong nodeId, int mask);

    /// <summary>lseek(2) with SEEK_DATA (3) or SEEK_HOLE (4); other whence values are the kernel's own.</summary>
    int Seek(ulong nodeId, ulong handle, long offset, int whence, out long result);
}

/// <summary>
/// The answer to OPEN: the file system's handle (below 2^63; it comes back in READ, LSEEK and
/// RELEASE), open flags, and optionally a file holding exactly this node's contents (e.g. a
/// fully cached file) for the kernel to read directly. Ownership of that handle passes to the
/// server, which closes it once registered.
/// </summary>
public readonly record struct FuseOpenResult(ulong Handle, FuseOpenFlags Flags = FuseOpenFlags.None, SafeFileHandle? PassthroughFile = null);
