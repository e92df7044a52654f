using System.Runtime.InteropServices;

namespace Snapshotter.Fuse.Interop;

/// <summary>A raw file descriptor owned (closed on release) or borrowed (left open).</summary>
internal sealed class FileDescriptor : SafeHandle
{
    /// <summary>For the interop marshaller; an invalid descriptor.</summary>
    public FileDescriptor()
        : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    public FileDescriptor(int fd, bool ownsHandle)
        : base(new IntPtr(-1), ownsHandle)
    {
        SetHandle(new IntPtr(fd));
    }

    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The descriptor number; valid while this handle is not disposed.</summary>
    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Libc.Close((int)handle.ToInt64()) == 0;
}
