namespace Snapshotter.Fuse;

/// <summary>The Linux errno values a FUSE file system answers with (asm-generic/errno-base.h).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int ENAMETOOLONG = 36;
    public const int ENODATA = 61;
    public const int EPROTO = 71;
    public const int EOVERFLOW = 75;
    public const int EOPNOTSUPP = 95;
    public const int ENOTCONN = 107;
    public const int ENODEV = 19;
    public const int ECONNABORTED = 103;
    public const int ENXIO = 6;
}

/// <summary>
/// Thrown by a file system (from <see cref="IFuseFileSystem.ReadAsync"/>) to answer a request
/// with a specific errno; any other exception is answered with EIO and logged.
/// </summary>
public sealed class FuseException : IOException
{
    public FuseException(int errno, string message)
        : base(message)
    {
        Errno = errno;
    }

    public FuseException()
        : this(Fuse.Errno.EIO, "I/O error")
    {
    }

    public FuseException(string message)
        : this(Fuse.Errno.EIO, message)
    {
    }

    public FuseException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errno = Fuse.Errno.EIO;
    }

    public int Errno { get; }
}
