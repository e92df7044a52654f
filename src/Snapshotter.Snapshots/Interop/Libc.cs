using System.Runtime.InteropServices;

namespace Snapshotter.Snapshots.Interop;

/// <summary>The syscalls the snapshotter makes itself (it never mounts: containerd does).</summary>
internal static partial class Libc
{
    /// <summary>MNT_DETACH: lazy unmount, the mount disappears now and is released when no longer busy.</summary>
    public const int MntDetach = 2;

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);
}
