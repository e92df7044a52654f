using System.Text.RegularExpressions;

namespace Snapshotter.Testing;

/// <summary>Reads /proc/self/mountinfo so fixtures can detach whatever their processes left mounted.</summary>
public static partial class Mounts
{
    public static IReadOnlyList<string> Under(string directory)
    {
        var prefix = Path.GetFullPath(directory).TrimEnd('/') + "/";
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => Unescape(line.Split(' ')[4]))
            .Where(mountPoint => (mountPoint + "/").StartsWith(prefix, StringComparison.Ordinal))
            .ToList();
    }

    /// <summary>Lazily detaches every mount under <paramref name="directory"/>, deepest first.</summary>
    public static async Task DetachAllUnderAsync(string directory)
    {
        foreach (var mountPoint in Under(directory).OrderByDescending(m => m.Length))
        {
            await ProcessRunner.RunAsync("umount", ["-l", mountPoint], TimeSpan.FromSeconds(30));
        }
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    private static string Unescape(string field) =>
        OctalEscape().Replace(field, m => ((char)Convert.ToInt32(m.Value[1..], 8)).ToString());

    [GeneratedRegex(@"\\[0-7]{3}")]
    private static partial Regex OctalEscape();
}
