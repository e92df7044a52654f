using System.Globalization;
using System.Security.Cryptography;

namespace Snapshotter.Testing.Tar;

/// <summary>
/// A comparable description of an unpacked tree (a <c>tar -x</c> result, a mounted layer): per
/// path its type, mode, owner, mtime, symlink target and content hash, from GNU find and
/// SHA-256. Two trees are the same layer when their lines are equal.
/// </summary>
public static class DirectoryTree
{
    /// <summary>One line per path below <paramref name="root"/>, sorted; paths in <paramref name="ignore"/> (relative) are left out.</summary>
    public static async Task<IReadOnlyList<string>> CaptureAsync(string root, params string[] ignore)
    {
        // %y type, %m octal mode, %U/%G numeric owner, %n link count, %T@ mtime, %l symlink target.
        var listing = await ProcessRunner.OutputOfAsync("find", root, "-mindepth", "1", "-printf", "%P\t%y\t%m\t%U\t%G\t%n\t%T@\t%l\n");
        var lines = new List<string>();
        foreach (var line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            if (ignore.Contains(fields[0]))
            {
                continue;
            }
            // Whole seconds: tar stores seconds, and directory mtimes are what tar restored.
            fields[6] = ((long)double.Parse(fields[6], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture);
            var content = fields[1] == "f" ? Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(root, fields[0])))) : "";
            lines.Add(string.Join('\t', fields) + "\t" + content);
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }
}
