using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Cache.Interop;

namespace Snapshotter.Cache.Disk;

/// <summary>
/// An exclusive flock(2) on a file: held by a live cache instance, released by the kernel when the
/// process dies however it dies (kill -9 included), so it tells a live instance from a dead one
/// without PIDs (which are reused). .NET already flocks files opened with FileShare.None; the
/// explicit flock keeps that true when the runtime's file locking is switched off.
/// </summary>
internal static class InstanceLock
{
    public enum State
    {
        Gone,
        Held,
        Locked,
    }

    /// <summary>Opens and locks <paramref name="path"/>; the handle is null unless the state is <see cref="State.Locked"/> (ours now).</summary>
    public static State TryLock(string path, FileMode mode, out SafeFileHandle? handle)
    {
        handle = null;
        SafeFileHandle opened;
        try
        {
            opened = File.OpenHandle(path, mode, FileAccess.ReadWrite, FileShare.None);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return State.Gone;
        }
        catch (IOException)
        {
            return State.Held; // the runtime's own flock was refused
        }
        if (Libc.Flock(opened, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            opened.Dispose();
            return errno == Libc.EWOULDBLOCK ? State.Held : throw new IOException($"flock '{path}' failed with errno {errno}");
        }
        handle = opened;
        return State.Locked;
    }
}
