using System.Text;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse.Handover;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram to the unix socket named by <c>$NOTIFY_SOCKET</c>
/// (a path, or an abstract name written with '@'), optionally carrying descriptors (FDSTORE=1).
/// </summary>
public static class SystemdNotify
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    /// <summary>The notification socket of the service manager, or null when not started by one.</summary>
    public static string? Socket
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(SocketVariable);
            return string.IsNullOrEmpty(value) ? null : value;
        }
    }

    /// <summary>
    /// Sends <paramref name="state"/> (newline-separated assignments such as <c>READY=1</c>) with
    /// <paramref name="descriptors"/> attached. Returns false without sending when there is no
    /// service manager; throws <see cref="IOException"/> when the socket refuses the message.
    /// </summary>
    public static bool Send(string state, IReadOnlyList<int>? descriptors = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(state);
        if (Socket is not { } socket)
        {
            return false;
        }
        using var sender = UnixSockets.Open(Libc.SOCK_DGRAM);
        UnixSockets.Send(sender.Fd, Encoding.UTF8.GetBytes(state), descriptors is null ? [] : [.. descriptors], socket);
        return true;
    }
}
