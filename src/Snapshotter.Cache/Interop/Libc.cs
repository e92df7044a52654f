using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Snapshotter.Cache.Interop;

/// <summary>The libc calls the cache makes, declared once. Every call sets errno for Marshal.GetLastPInvokeError.</summary>
internal static partial class Libc
{
    private const string Lib = "libc";

    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int EWOULDBLOCK = 11;

    /// <summary>
    /// <c>struct statvfs</c> of glibc on 64-bit Linux (x86_64 and arm64 alike): eleven unsigned
    /// longs and six spare ints, 112 bytes.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatVfs
    {
        public ulong BlockSize;
        public ulong FragmentSize;
        public ulong Blocks;
        public ulong BlocksFree;
        public ulong BlocksAvailable;
        public ulong Files;
        public ulong FilesFree;
        public ulong FilesAvailable;
        public ulong FileSystemId;
        public ulong Flags;
        public ulong NameMax;
        private unsafe fixed int _spare[6];
    }

    [LibraryImport(Lib, EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statvfs(string path, out StatVfs buffer);

    [LibraryImport(Lib, EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(SafeFileHandle fd, int operation);
}
