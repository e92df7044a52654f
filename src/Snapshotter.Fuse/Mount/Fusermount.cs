using System.Diagnostics;
using System.Globalization;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse;

/// <summary>
/// Mounting through the setuid helper fusermount3, for when mount(2) is not permitted: it
/// mounts, then passes the /dev/fuse descriptor back over a unix socket named by _FUSE_COMMFD.
/// </summary>
internal static unsafe class Fusermount
{
    private const string Tool = "fusermount3";

    public static FuseDevice Mount(string mountPoint, string options)
    {
        var pair = stackalloc int[2];
        // Without SOCK_CLOEXEC: the child must inherit its end.
        if (Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM, 0, pair) != 0)
        {
            throw FuseDevice.Failure("socketpair", Libc.LastErrno);
        }
        using var ours = new FileDescriptor(pair[0], ownsHandle: true);
        using var theirs = new FileDescriptor(pair[1], ownsHandle: true);
        var start = new ProcessStartInfo(Tool) { RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-o");
        start.ArgumentList.Add(options);
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(mountPoint);
        start.Environment["_FUSE_COMMFD"] = pair[1].ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new IOException($"{Tool} did not start");
        theirs.Dispose();
        var fd = ReceiveFd(ours.Fd);
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (fd < 0)
        {
            throw new IOException($"{Tool} mount of {mountPoint} failed (exit {process.ExitCode}): {stderr.Trim()}");
        }
        return FuseDevice.FromFd(fd, ownsFd: true);
    }

    public static void Unmount(string mountPoint, bool lazy)
    {
        var start = new ProcessStartInfo(Tool) { RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(lazy ? "-uz" : "-u");
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(mountPoint);
        using var process = Process.Start(start) ?? throw new IOException($"{Tool} did not start");
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new IOException($"{Tool} -u {mountPoint} failed (exit {process.ExitCode}): {stderr.Trim()}");
        }
    }

    /// <summary>Receives the descriptor fusermount3 sends with SCM_RIGHTS; -1 when it closed without sending one.</summary>
    private static int ReceiveFd(int socket)
    {
        var received = new List<int>(1);
        try
        {
            UnixSockets.Receive(socket, stackalloc byte[1], received);
        }
        catch (IOException)
        {
            return -1;
        }
        foreach (var extra in received.Skip(1))
        {
            Libc.Close(extra);
        }
        return received.Count > 0 ? received[0] : -1;
    }
}
