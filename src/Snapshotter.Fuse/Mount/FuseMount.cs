using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse;

/// <summary>
/// A mounted FUSE file system and its /dev/fuse connection. Dispose order for a clean end:
/// <see cref="Unmount"/>, then stop the server, then dispose this (which closes the device).
/// </summary>
public sealed unsafe class FuseMount : IDisposable
{
    private readonly ILogger _logger;
    private bool _unmounted;

    private FuseMount(string mountPoint, FuseDevice device, bool viaFusermount, ILogger logger)
    {
        MountPoint = mountPoint;
        Device = device;
        ViaFusermount = viaFusermount;
        _logger = logger;
    }

    public string MountPoint { get; }

    /// <summary>The connection; serve it with a <see cref="FuseServer"/>.</summary>
    public FuseDevice Device { get; }

    /// <summary>True when the mount was made by fusermount3 rather than mount(2).</summary>
    public bool ViaFusermount { get; }

    /// <summary>Mounts an empty FUSE file system at <paramref name="mountPoint"/>; the kernel then sends INIT on <see cref="Device"/>.</summary>
    public static FuseMount Mount(string mountPoint, FuseMountOptions? options = null, ILogger? logger = null)
    {
        options ??= new FuseMountOptions();
        logger ??= NullLogger.Instance;
        mountPoint = Path.GetFullPath(mountPoint);
        if (options.Method != FuseMountMethod.Fusermount)
        {
            var device = FuseDevice.Open();
            var data = new StringBuilder()
                .Append(CultureInfo.InvariantCulture, $"fd={device.Fd},rootmode=40000,user_id={Libc.GetUid()},group_id={Libc.GetGid()}")
                .Append(CommonOptions(options))
                .ToString();
            var flags = Libc.MS_NOSUID | Libc.MS_NODEV | (options.ReadOnly ? Libc.MS_RDONLY : 0);
            if (Libc.Mount(options.FsName, mountPoint, "fuse." + options.Subtype, flags, data) == 0)
            {
                return new FuseMount(mountPoint, device, viaFusermount: false, logger);
            }
            var errno = Libc.LastErrno;
            device.Dispose();
            if (options.Method == FuseMountMethod.Syscall || errno != Errno.EPERM)
            {
                throw FuseDevice.Failure($"mount {mountPoint}", errno);
            }
            Log.MountFallback(logger, mountPoint, errno);
        }
        var fusermountOptions = $"{(options.ReadOnly ? "ro" : "rw")},nosuid,nodev,fsname={options.FsName},subtype={options.Subtype}{CommonOptions(options)}";
        return new FuseMount(mountPoint, Fusermount.Mount(mountPoint, fusermountOptions), viaFusermount: true, logger);
    }

    /// <summary>
    /// Takes charge of a mount made earlier (e.g. by this daemon before a restart) whose
    /// connection is <paramref name="device"/>, so that it can be unmounted and closed as usual.
    /// </summary>
    public static FuseMount Adopt(string mountPoint, FuseDevice device, bool viaFusermount = false, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        mountPoint = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        if (!IsMounted(mountPoint))
        {
            throw new IOException($"{mountPoint} is not a FUSE mount point");
        }
        return new FuseMount(mountPoint, device, viaFusermount, logger ?? NullLogger.Instance);
    }

    private static string CommonOptions(FuseMountOptions options) =>
        (options.AllowOther ? ",allow_other" : "") +
        (options.DefaultPermissions ? ",default_permissions" : "") +
        (options.MaxRead > 0 ? string.Create(CultureInfo.InvariantCulture, $",max_read={options.MaxRead}") : "");

    /// <summary>
    /// Unmounts; <paramref name="lazy"/> detaches at once (MNT_DETACH) even while files are open,
    /// as on shutdown. Readers of the connection then see it end.
    /// </summary>
    public void Unmount(bool lazy = true)
    {
        if (_unmounted)
        {
            return;
        }
        Detach(MountPoint, lazy, ViaFusermount && Libc.GetEuid() != 0);
        _unmounted = true;
    }

    /// <summary>Unmounts (lazily) if still mounted, then closes the connection.</summary>
    public void Dispose()
    {
        try
        {
            Unmount();
        }
        finally
        {
            Device.Dispose();
        }
    }

    /// <summary>True when <paramref name="path"/> is a FUSE mount whose server is gone (statfs fails with ENOTCONN).</summary>
    public static bool IsStale(string path)
    {
        var buffer = stackalloc byte[512];
        return Libc.StatFs(path, buffer) != 0 && Libc.LastErrno == Errno.ENOTCONN;
    }

    /// <summary>Detaches <paramref name="path"/> if it is a stale FUSE mount; true if it was.</summary>
    public static bool CleanupStale(string path, ILogger? logger = null)
    {
        if (!IsStale(path))
        {
            return false;
        }
        Detach(path, lazy: true, viaFusermount: Libc.GetEuid() != 0);
        Log.StaleMountDetached(logger ?? NullLogger.Instance, path);
        return true;
    }

    /// <summary>Detaches every stale FUSE mount at or below <paramref name="root"/> (daemon start); returns their paths.</summary>
    public static IReadOnlyList<string> CleanupStaleUnder(string root, ILogger? logger = null)
    {
        root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var cleaned = new List<string>();
        // Deepest first, so a stale mount inside another one goes before its parent.
        foreach (var mount in FuseMountPoints().Where(m => IsAtOrBelow(m, root)).OrderByDescending(m => m.Length))
        {
            if (CleanupStale(mount, logger))
            {
                cleaned.Add(mount);
            }
        }
        return cleaned;
    }

    /// <summary>True when <paramref name="path"/> is a FUSE mount point of this mount namespace.</summary>
    public static bool IsMounted(string path) =>
        FuseMountPoints().Contains(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));

    private static bool IsAtOrBelow(string path, string root) =>
        path == root || path.StartsWith(root + "/", StringComparison.Ordinal);

    /// <summary>Mount points of type fuse / fuse.* from /proc/self/mountinfo.</summary>
    private static List<string> FuseMountPoints()
    {
        var result = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 1 >= fields.Length)
            {
                continue;
            }
            var type = fields[separator + 1];
            if (type == "fuse" || type.StartsWith("fuse.", StringComparison.Ordinal))
            {
                result.Add(Unescape(fields[4]));
            }
        }
        return result;
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as \ooo octal escapes.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }
        var bytes = new List<byte>(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                bytes.Add(Convert.ToByte(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(string s, int start) =>
        start + 3 <= s.Length && s.AsSpan(start, 3).IndexOfAnyExceptInRange('0', '7') < 0;

    private static void Detach(string path, bool lazy, bool viaFusermount)
    {
        if (viaFusermount)
        {
            Fusermount.Unmount(path, lazy);
            return;
        }
        if (Libc.Umount2(path, lazy ? Libc.MNT_DETACH : 0) != 0)
        {
            var errno = Libc.LastErrno;
            if (errno == Errno.EINVAL || errno == Errno.ENOENT)
            {
                return; // not (or no longer) a mount point
            }
            throw FuseDevice.Failure($"umount {path}", errno);
        }
    }
}
