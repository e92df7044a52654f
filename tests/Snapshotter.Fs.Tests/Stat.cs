using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Snapshotter.Fs.Tests;

/// <summary>statx(2) fields FileTree does not give: inode number and allocated blocks.</summary>
internal readonly partial record struct Stat(ulong Ino, ulong Blocks, uint Links, long Size)
{
    public static Stat Of(string path)
    {
        Span<byte> buffer = stackalloc byte[256];
        const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxBasicStats = 0x7ff;
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            throw new IOException($"statx {path}: errno {Marshal.GetLastPInvokeError()}");
        }
        return new Stat(
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[0x20..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[0x30..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[0x10..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[0x28..]));
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, int mask, ref byte buffer);
}
