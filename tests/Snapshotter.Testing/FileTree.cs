using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Snapshotter.Testing;

/// <summary>One path of a directory tree, as `ls -l`, `readlink`, `getfattr` and `sha256sum` would see it.</summary>
public sealed record FileTreeEntry(
    string Path,
    char Type,
    int Mode,
    uint Uid,
    uint Gid,
    long Size,
    long ModifiedSeconds,
    string? LinkTarget,
    string? Sha256,
    string Xattrs,
    uint DeviceMajor,
    uint DeviceMinor,
    uint Links)
{
    public override string ToString() =>
        $"{Type} {Convert.ToString(Mode, 8)} {Uid}:{Gid} {Size} {ModifiedSeconds} {Path}{(LinkTarget is null ? "" : " -> " + LinkTarget)} {Sha256} [{Xattrs}] dev {DeviceMajor},{DeviceMinor} links {Links}";
}

/// <summary>
/// Walks a directory tree with lstat(2) and llistxattr(2) (never following symlinks) so two trees
/// (a FUSE mount, a `tar -x`, a containerd snapshot) can be compared entry by entry.
/// </summary>
public static partial class FileTree
{
    /// <summary>Every path under <paramref name="root"/> (relative, sorted ordinally), except names in <paramref name="ignore"/>.</summary>
    public static IReadOnlyList<FileTreeEntry> Read(string root, IReadOnlySet<string>? ignore = null, bool hashContent = true)
    {
        var entries = new List<FileTreeEntry>();
        Walk(root, "", entries, ignore ?? new HashSet<string>(), hashContent);
        entries.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return entries;
    }

    /// <summary>Lines describing every difference between two trees; empty when they are equal.</summary>
    public static IReadOnlyList<string> Differences(IReadOnlyList<FileTreeEntry> expected, IReadOnlyList<FileTreeEntry> actual)
    {
        var differences = new List<string>();
        var actualByPath = actual.ToDictionary(e => e.Path, StringComparer.Ordinal);
        foreach (var entry in expected)
        {
            if (!actualByPath.Remove(entry.Path, out var other))
            {
                differences.Add($"missing: {entry}");
            }
            else if (entry != other)
            {
                differences.Add($"differs: expected {entry}\n         actual   {other}");
            }
        }
        differences.AddRange(actualByPath.Values.Select(e => $"unexpected: {e}"));
        return differences;
    }

    private static void Walk(string root, string relative, List<FileTreeEntry> entries, IReadOnlySet<string> ignore, bool hashContent)
    {
        var directory = relative.Length == 0 ? root : Path.Combine(root, relative);
        foreach (var fullPath in Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(fullPath);
            var path = relative.Length == 0 ? name : relative + "/" + name;
            if (ignore.Contains(path))
            {
                continue;
            }
            var entry = Describe(fullPath, path, hashContent);
            entries.Add(entry);
            if (entry.Type == 'd')
            {
                Walk(root, path, entries, ignore, hashContent);
            }
        }
    }

    private static FileTreeEntry Describe(string fullPath, string path, bool hashContent)
    {
        if (LStat(fullPath, out var stat) != 0)
        {
            throw new IOException($"lstat {fullPath}: errno {Marshal.GetLastPInvokeError()}");
        }
        var type = (stat.Mode & 0xF000) switch
        {
            0x4000 => 'd',
            0x8000 => 'f',
            0xA000 => 'l',
            0x2000 => 'c',
            0x6000 => 'b',
            0x1000 => 'p',
            0xC000 => 's',
            _ => '?',
        };
        var isDevice = type is 'c' or 'b';
        return new FileTreeEntry(
            path,
            type,
            (int)(stat.Mode & 0xFFF),
            stat.Uid,
            stat.Gid,
            type is 'f' or 'l' ? stat.Size : 0,
            stat.MTimeSeconds,
            type == 'l' ? new FileInfo(fullPath).LinkTarget : null,
            type == 'f' && hashContent ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(fullPath))) : null,
            Xattrs(fullPath),
            isDevice ? stat.DeviceMajor : 0,
            isDevice ? stat.DeviceMinor : 0,
            // A directory's link count depends on the filesystem's bookkeeping, a file's on hardlinks.
            type == 'd' ? 0 : stat.Links);
    }

    private static string Xattrs(string path)
    {
        var names = new byte[64 * 1024];
        var length = LListXattr(path, names, names.Length);
        if (length <= 0)
        {
            return "";
        }
        var parts = new List<string>();
        foreach (var name in Encoding.UTF8.GetString(names, 0, (int)length).Split('\0', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal))
        {
            var value = new byte[64 * 1024];
            var valueLength = LGetXattr(path, name, value, value.Length);
            parts.Add(valueLength < 0 ? $"{name}=?" : $"{name}={Convert.ToHexStringLower(value.AsSpan(0, (int)valueLength))}");
        }
        return string.Join(',', parts);
    }

    private readonly record struct Stat(uint Mode, uint Uid, uint Gid, long Size, long MTimeSeconds, uint DeviceMajor, uint DeviceMinor, uint Links);

    private static int LStat(string path, out Stat stat)
    {
        // struct statx (include/uapi/linux/stat.h) is the same on every architecture, unlike struct stat.
        Span<byte> buffer = stackalloc byte[256];
        const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxBasicStats = 0x7ff;
        var result = Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, ref MemoryMarshal.GetReference(buffer));
        stat = result != 0 ? default : new Stat(
            Mode: BitConverter.ToUInt16(buffer[0x1c..]),
            Uid: BitConverter.ToUInt32(buffer[0x14..]),
            Gid: BitConverter.ToUInt32(buffer[0x18..]),
            Size: BitConverter.ToInt64(buffer[0x28..]),
            MTimeSeconds: BitConverter.ToInt64(buffer[0x70..]),
            DeviceMajor: BitConverter.ToUInt32(buffer[0x80..]),
            DeviceMinor: BitConverter.ToUInt32(buffer[0x84..]),
            Links: BitConverter.ToUInt32(buffer[0x10..]));
        return result;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, int mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint LListXattr(string path, byte[] list, nint size);

    [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint LGetXattr(string path, string name, byte[] value, nint size);
}
