using System.Net.Sockets;

namespace Snapshotter.Daemon;

/// <summary>The socket file's life: refuse a live one, remove a stale one, restrict access, remove on exit.</summary>
internal static class UnixSocket
{
    /// <summary>rw for owner and group (0660): containerd runs as root; a group may be given access.</summary>
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    /// <summary>Creates the parent directory and removes a socket file nobody answers on; fails if a daemon still serves it.</summary>
    /// <returns>True if a stale socket was removed.</returns>
    public static bool PrepareForListening(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("containerd proxy snapshotters are served on unix sockets");
        }
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }
        if (!File.Exists(path))
        {
            return false;
        }
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new InvalidOperationException($"another process is serving on {path}");
            }
            catch (SocketException)
            {
                // Nobody listens: a leftover of a daemon that died.
            }
        }
        File.Delete(path);
        return true;
    }

    public static void Restrict(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("containerd proxy snapshotters are served on unix sockets");
        }
        File.SetUnixFileMode(path, Mode);
    }

    public static void Remove(string path)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }
}
