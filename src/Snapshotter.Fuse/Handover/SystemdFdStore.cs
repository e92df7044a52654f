using System.Globalization;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse.Handover;

/// <summary>
/// systemd's file descriptor store (https://systemd.io/FILE_DESCRIPTOR_STORE/): descriptors go to
/// the service manager with <c>FDSTORE=1</c> + <c>FDNAME=</c> over <c>$NOTIFY_SOCKET</c> and come
/// back at the next start as <c>$LISTEN_FDS</c> descriptors from 3 on, named by
/// <c>$LISTEN_FDNAMES</c>. The unit needs <c>FileDescriptorStoreMax=</c> (systemd sets
/// <c>$FDSTORE</c> to it from v254); systemd closes a stored descriptor on POLLERR/POLLHUP.
/// </summary>
public sealed class SystemdFdStore : IFdStore
{
    /// <summary>SD_LISTEN_FDS_START.</summary>
    public const int FirstDescriptor = 3;

    private readonly Dictionary<string, IReadOnlyList<int>> _inherited;

    private SystemdFdStore(Dictionary<string, IReadOnlyList<int>> inherited)
    {
        _inherited = inherited;
    }

    /// <summary>True when started by systemd with a descriptor store (<c>$NOTIFY_SOCKET</c> and <c>$FDSTORE</c> &gt; 0, systemd 254+).</summary>
    public static bool IsOffered =>
        SystemdNotify.Socket is not null &&
        int.TryParse(Environment.GetEnvironmentVariable("FDSTORE"), NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max > 0;

    public IReadOnlyDictionary<string, IReadOnlyList<int>> Inherited => _inherited;

    /// <summary>
    /// Takes the descriptors passed to this process whose names start with <paramref name="namePrefix"/>
    /// (others are left alone) and clears the <c>LISTEN_*</c> variables, so that children do not see them.
    /// </summary>
    public static SystemdFdStore Open(string namePrefix)
    {
        if (SystemdNotify.Socket is null)
        {
            throw new IOException($"${SystemdNotify.SocketVariable} is not set: not started by systemd, so there is no descriptor store");
        }
        var inherited = new Dictionary<string, IReadOnlyList<int>>(StringComparer.Ordinal);
        foreach (var (name, fd) in Listened())
        {
            UnixSockets.SetCloseOnExec(fd);
            if (name.StartsWith(namePrefix, StringComparison.Ordinal))
            {
                inherited[name] = [.. inherited.GetValueOrDefault(name) ?? [], fd];
            }
        }
        return new SystemdFdStore(inherited);
    }

    /// <summary>The (name, descriptor) pairs of <c>$LISTEN_FDS</c> when <c>$LISTEN_PID</c> is this process.</summary>
    private static List<(string Name, int Fd)> Listened()
    {
        var pid = Environment.GetEnvironmentVariable("LISTEN_PID");
        var count = Environment.GetEnvironmentVariable("LISTEN_FDS");
        var names = Environment.GetEnvironmentVariable("LISTEN_FDNAMES")?.Split(':') ?? [];
        foreach (var variable in (string[])["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"])
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
        if (pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture) ||
            !int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return [];
        }
        return [.. Enumerable.Range(0, n).Select(i => (i < names.Length ? names[i] : "unknown", FirstDescriptor + i))];
    }

    public void Store(string name, IReadOnlyList<int> descriptors)
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        // systemd ignores a descriptor it already holds, so storing the same set again adds only new ones.
        if (!SystemdNotify.Send($"FDSTORE=1\nFDNAME={FdStoreNames.Checked(name)}", descriptors))
        {
            throw new IOException("the service manager's notification socket is gone");
        }
    }

    public void Remove(string name) => SystemdNotify.Send($"FDSTOREREMOVE=1\nFDNAME={FdStoreNames.Checked(name)}");

    public void Dispose()
    {
    }
}

/// <summary>The names both stores accept: printable ASCII, no ':' (the separator of <c>$LISTEN_FDNAMES</c>), 1–255 bytes.</summary>
internal static class FdStoreNames
{
    public static string Checked(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > 255 || name.Any(c => c is <= ' ' or > '~' or ':'))
        {
            throw new ArgumentException($"'{name}' is not a valid descriptor name (printable ASCII without ':' or spaces, at most 255)", nameof(name));
        }
        return name;
    }
}
