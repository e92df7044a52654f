using System.Text;

namespace Snapshotter.Fuse.Interop;

/// <summary>
/// Unix sockets at the level .NET's <see cref="System.Net.Sockets.Socket"/> does not reach:
/// descriptors passed with SCM_RIGHTS, abstract addresses, peer credentials.
/// </summary>
internal static unsafe class UnixSockets
{
    /// <summary>SCM_MAX_FD: the most descriptors one message may carry.</summary>
    public const int MaxDescriptors = 253;

    // struct cmsghdr { size_t len; int level; int type; }, data aligned to 8 (64-bit Linux).
    private const int CmsgHeader = 16;

    /// <summary>A new socket of <paramref name="type"/> (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET), close-on-exec.</summary>
    public static FileDescriptor Open(int type)
    {
        var fd = Libc.Socket(Libc.AF_UNIX, type | Libc.SOCK_CLOEXEC, 0);
        return fd >= 0 ? new FileDescriptor(fd, ownsHandle: true) : throw FuseDevice.Failure("socket", Libc.LastErrno);
    }

    /// <summary>Connects to <paramref name="path"/>; returns 0 or the errno (ENOENT, ECONNREFUSED: nobody listens).</summary>
    public static int Connect(FileDescriptor socket, string path)
    {
        var address = Address(path, out var length);
        return Libc.Connect(socket.Fd, &address, length) == 0 ? 0 : Libc.LastErrno;
    }

    public static void BindAndListen(FileDescriptor socket, string path, int backlog)
    {
        var address = Address(path, out var length);
        if (Libc.Bind(socket.Fd, &address, length) != 0)
        {
            throw FuseDevice.Failure($"bind {path}", Libc.LastErrno);
        }
        if (Libc.Listen(socket.Fd, backlog) != 0)
        {
            throw FuseDevice.Failure($"listen {path}", Libc.LastErrno);
        }
    }

    /// <summary>The process id of the peer of a connected socket (SO_PEERCRED).</summary>
    public static int PeerPid(FileDescriptor socket)
    {
        Libc.UCred credentials;
        var length = (uint)sizeof(Libc.UCred);
        return Libc.GetSockOpt(socket.Fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, &credentials, &length) == 0
            ? credentials.Pid
            : throw FuseDevice.Failure("getsockopt SO_PEERCRED", Libc.LastErrno);
    }

    /// <summary>
    /// Sends <paramref name="data"/> as one message with <paramref name="descriptors"/> attached
    /// (the receiver gets duplicates), to <paramref name="destination"/> for an unconnected datagram socket.
    /// Never raises SIGPIPE; a closed peer is an <see cref="IOException"/> (EPIPE).
    /// </summary>
    public static void Send(int socket, ReadOnlySpan<byte> data, ReadOnlySpan<int> descriptors, string? destination = null)
    {
        if (descriptors.Length > MaxDescriptors)
        {
            throw new ArgumentException($"at most {MaxDescriptors} descriptors fit in one message", nameof(descriptors));
        }
        var controlLength = descriptors.IsEmpty ? 0 : Space(descriptors.Length);
        var control = stackalloc byte[Math.Max(controlLength, 1)];
        new Span<byte>(control, controlLength).Clear();
        if (!descriptors.IsEmpty)
        {
            *(nuint*)control = (nuint)(CmsgHeader + (sizeof(int) * descriptors.Length));
            *(int*)(control + 8) = Libc.SOL_SOCKET;
            *(int*)(control + 12) = Libc.SCM_RIGHTS;
            descriptors.CopyTo(new Span<int>(control + CmsgHeader, descriptors.Length));
        }
        var address = destination is null ? default : Address(destination, out _);
        var addressLength = destination is null ? 0u : AddressLength(destination);
        fixed (byte* bytes = data)
        {
            var iov = new Libc.IoVec { Base = bytes, Length = (nuint)data.Length };
            var message = new Libc.MsgHdr
            {
                Name = destination is null ? null : &address,
                NameLength = addressLength,
                Iov = &iov,
                IovLength = 1,
                Control = controlLength == 0 ? null : control,
                ControlLength = (nuint)controlLength,
            };
            while (Libc.SendMsg(socket, &message, Libc.MSG_NOSIGNAL) < 0)
            {
                var errno = Libc.LastErrno;
                if (errno != Errno.EINTR)
                {
                    throw FuseDevice.Failure("sendmsg", errno);
                }
            }
        }
    }

    /// <summary>
    /// Receives one message into <paramref name="buffer"/> and appends the descriptors it carried
    /// (close-on-exec, owned by the caller) to <paramref name="descriptors"/>; returns its length, 0 at end of stream.
    /// </summary>
    public static int Receive(int socket, Span<byte> buffer, List<int> descriptors)
    {
        var controlLength = Space(MaxDescriptors);
        var control = stackalloc byte[controlLength];
        fixed (byte* bytes = buffer)
        {
            var iov = new Libc.IoVec { Base = bytes, Length = (nuint)buffer.Length };
            var message = new Libc.MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlLength };
            nint received;
            while ((received = Libc.RecvMsg(socket, &message, Libc.MSG_CMSG_CLOEXEC)) < 0)
            {
                var errno = Libc.LastErrno;
                if (errno != Errno.EINTR)
                {
                    throw FuseDevice.Failure("recvmsg", errno);
                }
            }
            var offset = 0;
            while (offset + CmsgHeader <= (int)message.ControlLength)
            {
                var length = (int)*(nuint*)(control + offset);
                if (length < CmsgHeader)
                {
                    break;
                }
                if (*(int*)(control + offset + 8) == Libc.SOL_SOCKET && *(int*)(control + offset + 12) == Libc.SCM_RIGHTS)
                {
                    descriptors.AddRange(new ReadOnlySpan<int>(control + offset + CmsgHeader, (length - CmsgHeader) / sizeof(int)));
                }
                offset += (length + 7) & ~7;
            }
            if ((message.Flags & Libc.MSG_CTRUNC) != 0)
            {
                throw new IOException("a message carried more descriptors than fit; the kernel closed the rest");
            }
            return (int)received;
        }
    }

    /// <summary>Sets close-on-exec on an inherited descriptor, so that child processes do not keep it.</summary>
    public static void SetCloseOnExec(int fd)
    {
        var flags = Libc.Fcntl(fd, Libc.F_GETFD, 0);
        if (flags < 0 || Libc.Fcntl(fd, Libc.F_SETFD, flags | Libc.FD_CLOEXEC) < 0)
        {
            throw FuseDevice.Failure($"fcntl FD_CLOEXEC on {fd}", Libc.LastErrno);
        }
    }

    /// <summary>CMSG_SPACE for <paramref name="count"/> ints.</summary>
    private static int Space(int count) => CmsgHeader + (((sizeof(int) * count) + 7) & ~7);

    /// <summary>A path, or an abstract name written with a leading '@' (as systemd's NOTIFY_SOCKET does).</summary>
    private static Libc.SockAddrUnix Address(string path, out uint length)
    {
        var address = new Libc.SockAddrUnix { Family = Libc.AF_UNIX };
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length == 0 || bytes.Length >= Libc.SockAddrUnix.PathCapacity)
        {
            throw new ArgumentException($"unix socket address '{path}' is empty or longer than {Libc.SockAddrUnix.PathCapacity - 1} bytes", nameof(path));
        }
        if (bytes[0] == (byte)'@')
        {
            bytes[0] = 0;
        }
        var target = new Span<byte>(address.Path, Libc.SockAddrUnix.PathCapacity);
        bytes.CopyTo(target);
        length = AddressLength(path);
        return address;
    }

    /// <summary>An abstract name counts exactly its bytes; a path counts its terminating NUL.</summary>
    private static uint AddressLength(string path) =>
        (uint)(Libc.SockAddrUnix.PathOffset + Encoding.UTF8.GetByteCount(path) + (path.StartsWith('@') ? 0 : 1));
}
