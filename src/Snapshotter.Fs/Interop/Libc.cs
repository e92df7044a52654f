using System.Runtime.InteropServices;

namespace Snapshotter.Fs.Interop;

/// <summary>The libc calls that give local copies the layer's metadata. Every call sets errno for Marshal.GetLastPInvokeError.</summary>
internal static partial class Libc
{
    private const string Lib = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint RENAME_NOREPLACE = 1;
    public const int EEXIST = 17;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Lib, EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Lchown(string path, uint owner, uint group);

    [LibraryImport(Lib, EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(string path, uint mode);

    [LibraryImport(Lib, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Utimensat(int directoryFd, string path, ReadOnlySpan<Timespec> times, int flags);

    [LibraryImport(Lib, EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Lsetxattr(string path, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, nuint size, int flags);

    public const int SCHED_OTHER = 0;
    public const int SCHED_BATCH = 3;
    public const int SCHED_IDLE = 5;
    public const int SCHED_RESET_ON_FORK = 0x40000000;

    /// <summary>Linux scheduling policies are per thread: 0 as the id means the calling thread.</summary>
    [LibraryImport(Lib, EntryPoint = "sched_setscheduler", SetLastError = true)]
    public static partial int SchedSetscheduler(int threadId, int policy, in int priority);

    /// <summary>The calling thread's policy (with <see cref="SCHED_RESET_ON_FORK"/> if set) when <paramref name="threadId"/> is 0.</summary>
    [LibraryImport(Lib, EntryPoint = "sched_getscheduler", SetLastError = true)]
    public static partial int SchedGetscheduler(int threadId);

    [LibraryImport(Lib, EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Renameat2(int oldDirectoryFd, string oldPath, int newDirectoryFd, string newPath, uint flags);

    /// <summary>Throws an IOException naming <paramref name="what"/> when <paramref name="result"/> is -1.</summary>
    public static void Check(int result, string what)
    {
        if (result == -1)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
        }
    }
}
