using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Fuse.Interop;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse;

/// <summary>
/// The kernel side of a FUSE connection: an open /dev/fuse file descriptor, plus the cloned
/// queues (FUSE_DEV_IOC_CLONE) its server reads on. The descriptors (<see cref="QueueDescriptors"/>)
/// can be handed to another process (e.g. systemd's fd store) and wrapped again there with
/// <see cref="Adopt"/>.
/// </summary>
public sealed unsafe class FuseDevice : IFuseTransport, IDisposable
{
    private readonly FileDescriptor _fd;
    private readonly Lock _gate = new();
    private readonly Queue<FileDescriptor> _inheritedQueues = new();
    private readonly List<FileDescriptor> _queues = [];
    private bool _disposed;

    private FuseDevice(FileDescriptor fd)
    {
        _fd = fd;
    }

    /// <summary>The file descriptor number of the connection.</summary>
    public int Fd => _fd.Fd;

    /// <summary>
    /// The connection's descriptor and every queue still open (cloned or inherited). A request a
    /// server has read but not answered belongs to the queue it was read from, and the kernel fails
    /// it (ECONNABORTED) when that queue's last descriptor closes: whoever keeps the connection across
    /// a restart must keep all of these. The numbers are valid until the device or its server stops.
    /// </summary>
    public IReadOnlyList<int> QueueDescriptors
    {
        get
        {
            lock (_gate)
            {
                return [Fd, .. _queues.Select(q => q.Fd), .. _inheritedQueues.Select(q => q.Fd)];
            }
        }
    }

    /// <summary>True once the descriptor is closed.</summary>
    public bool IsClosed => _fd.IsClosed;

    /// <summary>Opens /dev/fuse for a new connection (to be mounted).</summary>
    public static FuseDevice Open()
    {
        var fd = Libc.Open("/dev/fuse", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw Failure("open /dev/fuse", Libc.LastErrno);
        }
        return new FuseDevice(new FileDescriptor(fd, ownsHandle: true));
    }

    /// <summary>
    /// Wraps an already open /dev/fuse descriptor, e.g. one inherited across a restart;
    /// <paramref name="ownsFd"/> decides whether <see cref="Dispose"/> closes it.
    /// </summary>
    public static FuseDevice FromFd(int fd, bool ownsFd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        return new FuseDevice(new FileDescriptor(fd, ownsFd));
    }

    /// <summary>
    /// Takes ownership of the <see cref="QueueDescriptors"/> of a connection served by a previous
    /// process: the first becomes the device, the others are the queues handed out first by
    /// <see cref="OpenChannel"/>, so requests left on them can be resent and read there.
    /// </summary>
    public static FuseDevice Adopt(IReadOnlyList<int> queueDescriptors)
    {
        ArgumentNullException.ThrowIfNull(queueDescriptors);
        if (queueDescriptors.Count == 0 || queueDescriptors.Any(fd => fd < 0))
        {
            throw new ArgumentException("a connection needs at least one valid descriptor", nameof(queueDescriptors));
        }
        var device = FromFd(queueDescriptors[0], ownsFd: true);
        foreach (var fd in queueDescriptors.Skip(1))
        {
            device._inheritedQueues.Enqueue(new FileDescriptor(fd, ownsHandle: true));
        }
        return device;
    }

    public IFuseChannel OpenChannel(bool clone)
    {
        if (!clone)
        {
            return new DeviceChannel(this, new FileDescriptor(Fd, ownsHandle: false));
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_inheritedQueues.TryDequeue(out var inherited))
            {
                _queues.Add(inherited);
                return new DeviceChannel(this, inherited);
            }
        }
        var fd = Libc.Open("/dev/fuse", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw Failure("open /dev/fuse", Libc.LastErrno);
        }
        var cloned = new FileDescriptor(fd, ownsHandle: true);
        uint source = (uint)Fd;
        if (Libc.Ioctl(cloned, FuseConstants.DevIocClone, &source) != 0)
        {
            var errno = Libc.LastErrno;
            cloned.Dispose();
            throw Failure("FUSE_DEV_IOC_CLONE", errno);
        }
        lock (_gate)
        {
            _queues.Add(cloned);
        }
        return new DeviceChannel(this, cloned);
    }

    private void Closed(FileDescriptor queue)
    {
        lock (_gate)
        {
            _queues.Remove(queue);
        }
    }

    public int OpenBacking(SafeFileHandle file)
    {
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            var map = new FuseBackingMap { Fd = (int)file.DangerousGetHandle() };
            var id = Libc.Ioctl(_fd, FuseConstants.DevIocBackingOpen, &map);
            return id < 0 ? -Libc.LastErrno : id;
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    public int CloseBacking(int backingId)
    {
        var id = (uint)backingId;
        return Libc.Ioctl(_fd, FuseConstants.DevIocBackingClose, &id) == 0 ? 0 : Libc.LastErrno;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            while (_inheritedQueues.TryDequeue(out var unused))
            {
                unused.Dispose();
            }
        }
        _fd.Dispose();
    }

    internal static IOException Failure(string what, int errno) =>
        new($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);

    /// <summary>
    /// One queue of the connection. The descriptor is non-blocking: a read that finds nothing
    /// polls the descriptor together with an eventfd that <see cref="CancelRead"/> signals.
    /// </summary>
    private sealed class DeviceChannel : IFuseChannel
    {
        private readonly FuseDevice _device;
        private readonly FileDescriptor _fd;
        private readonly FileDescriptor _wake;
        private volatile bool _cancelled;

        public DeviceChannel(FuseDevice device, FileDescriptor fd)
        {
            _device = device;
            _fd = fd;
            var flags = Libc.Fcntl(fd, Libc.F_GETFL, 0);
            if (flags < 0 || Libc.Fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK) < 0)
            {
                throw Failure("fcntl O_NONBLOCK", Libc.LastErrno);
            }
            var wake = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
            if (wake < 0)
            {
                throw Failure("eventfd", Libc.LastErrno);
            }
            _wake = new FileDescriptor(wake, ownsHandle: true);
        }

        public int Read(Span<byte> buffer)
        {
            fixed (byte* p = buffer)
            {
                while (!_cancelled)
                {
                    var n = Libc.Read(_fd, p, (nuint)buffer.Length);
                    if (n > 0)
                    {
                        return (int)n;
                    }
                    var errno = n == 0 ? Errno.ENODEV : Libc.LastErrno;
                    switch (errno)
                    {
                        case Errno.EAGAIN:
                            WaitReadable();
                            break;
                        case Errno.EINTR:
                        case Errno.ENOENT: // the request was interrupted before we read it
                            break;
                        case Errno.ENODEV: // unmounted
                        case Errno.ECONNABORTED: // aborted
                            return 0;
                        default:
                            throw Failure("read /dev/fuse", errno);
                    }
                }
                return 0;
            }
        }

        private void WaitReadable()
        {
            var fds = stackalloc Libc.PollFd[2];
            fds[0] = new Libc.PollFd { Fd = _fd.Fd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = _wake.Fd, Events = Libc.POLLIN };
            while (Libc.Poll(fds, 2, -1) < 0 && Libc.LastErrno == Errno.EINTR)
            {
            }
        }

        public int Write(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
        {
            fixed (byte* h = header)
            fixed (byte* d = payload)
            {
                var iov = stackalloc Libc.IoVec[2];
                iov[0] = new Libc.IoVec { Base = h, Length = (nuint)header.Length };
                iov[1] = new Libc.IoVec { Base = d, Length = (nuint)payload.Length };
                while (true)
                {
                    var n = payload.IsEmpty
                        ? Libc.Write(_fd, h, (nuint)header.Length)
                        : Libc.WriteV(_fd, iov, 2);
                    if (n >= 0)
                    {
                        return 0;
                    }
                    var errno = Libc.LastErrno;
                    if (errno != Errno.EINTR)
                    {
                        return errno;
                    }
                }
            }
        }

        public void CancelRead()
        {
            _cancelled = true;
            ulong one = 1;
            _ = Libc.Write(_wake, (byte*)&one, sizeof(ulong));
        }

        public void Dispose()
        {
            _wake.Dispose();
            _device.Closed(_fd);
            _fd.Dispose();
        }
    }
}
