using System.Text;
using Snapshotter.Benchmark.Interop;

namespace Snapshotter.Benchmark.Running;

/// <summary>Mounts from /proc/self/mountinfo: counting lazy layers and detaching what a run left behind.</summary>
internal static class MountTable
{
    public sealed record Entry(string MountPoint, string FsType);

    public static IReadOnlyList<Entry> Parse(IEnumerable<string> mountinfoLines) =>
        mountinfoLines
            .Select(line => line.Split(' '))
            .Select(fields => (fields, separator: Array.IndexOf(fields, "-")))
            .Where(f => f.fields.Length > 4 && f.separator > 4 && f.separator + 1 < f.fields.Length)
            .Select(f => new Entry(Unescape(f.fields[4]), f.fields[f.separator + 1]))
            .ToList();

    public static IReadOnlyList<Entry> Read() => Parse(File.ReadLines("/proc/self/mountinfo"));

    public static IReadOnlyList<Entry> Under(IReadOnlyList<Entry> mounts, string directory)
    {
        var prefix = Path.GetFullPath(directory).TrimEnd('/') + "/";
        return mounts.Where(m => (m.MountPoint + "/").StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public static int FuseMountsUnder(string directory) =>
        Under(Read(), directory).Count(m => m.FsType == "fuse" || m.FsType.StartsWith("fuse.", StringComparison.Ordinal));

    /// <summary>Lazily detaches every mount under <paramref name="directory"/>, deepest first.</summary>
    public static void DetachAllUnder(string directory)
    {
        foreach (var mount in Under(Read(), directory).OrderByDescending(m => m.MountPoint.Length))
        {
            _ = Libc.Umount2(mount.MountPoint, Libc.MNT_DETACH);
        }
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo octal.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }
        var result = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && !field.AsSpan(i + 1, 3).ContainsAnyExceptInRange('0', '7'))
            {
                result.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                result.Append(field[i]);
            }
        }
        return result.ToString();
    }
}
