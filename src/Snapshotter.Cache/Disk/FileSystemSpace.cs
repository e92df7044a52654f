using System.ComponentModel;
using System.Runtime.InteropServices;
using Snapshotter.Cache.Interop;

namespace Snapshotter.Cache.Disk;

/// <summary>Size and free space of the filesystem holding a path, from statvfs(3).</summary>
internal readonly record struct FileSystemSpace(long TotalBytes, long AvailableBytes, int BlockSize)
{
    public static FileSystemSpace Of(string path)
    {
        if (Libc.Statvfs(path, out var stat) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"statvfs '{path}' failed", new Win32Exception(errno));
        }
        var fragment = (long)stat.FragmentSize;
        // f_bavail, not f_bfree: the space an unprivileged writer may use, so the root-reserved
        // blocks are never counted as free.
        return new FileSystemSpace((long)stat.Blocks * fragment, (long)stat.BlocksAvailable * fragment, (int)Math.Max(stat.FragmentSize, 512));
    }

    /// <summary>Bytes <paramref name="length"/> bytes of file content occupy, rounded up to whole blocks.</summary>
    public static long Allocated(long length, int blockSize) =>
        (length + blockSize - 1) / blockSize * blockSize;
}
