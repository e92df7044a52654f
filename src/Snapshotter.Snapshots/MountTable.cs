using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Snapshotter.Snapshots.Interop;

namespace Snapshotter.Snapshots;

/// <summary>The mounts this process can see (<c>/proc/self/mountinfo</c>) and lazy detaching.</summary>
public static class MountTable
{
    /// <summary>Mount points at or below <paramref name="directory"/>, deepest first.</summary>
    public static IReadOnlyList<string> Under(string directory)
    {
        var prefix = Path.GetFullPath(directory).TrimEnd('/') + "/";
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => Unescape(line.Split(' ')[4]))
            .Where(mountPoint => (mountPoint + "/").StartsWith(prefix, StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .OrderByDescending(m => m.Length)
            .ToList();
    }

    /// <summary>
    /// Lazily detaches every mount at or below <paramref name="directory"/>, except the mount points
    /// in <paramref name="keep"/> (exact paths); returns those that failed.
    /// </summary>
    public static IReadOnlyList<(string MountPoint, int Errno)> DetachAllUnder(string directory, IReadOnlySet<string>? keep = null)
    {
        var failures = new List<(string, int)>();
        // Stacked mounts on one point show up once per layer; detach until none is left.
        for (var round = 0; round < 8; round++)
        {
            var mounts = Under(directory).Where(m => keep?.Contains(m) != true).ToList();
            if (mounts.Count == 0)
            {
                return [];
            }
            failures.Clear();
            foreach (var mountPoint in mounts)
            {
                if (Libc.Umount2(mountPoint, Libc.MntDetach) != 0)
                {
                    failures.Add((mountPoint, Marshal.GetLastPInvokeError()));
                }
            }
            if (failures.Count == mounts.Count)
            {
                break;
            }
        }
        return failures;
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }
        var result = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length &&
                int.TryParse(field.AsSpan(i + 1, 3), NumberStyles.None, CultureInfo.InvariantCulture, out _))
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
