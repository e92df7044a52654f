namespace Snapshotter.Testing;

/// <summary>
/// Runtime skips for tests that need root, /dev/fuse or a Debian package. Outside CI such a test
/// may skip, saying why; in CI (CI=true) a missing requirement is a failure, never a skip.
/// </summary>
public static class Requirements
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Root() =>
        Require(Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || IsEuidZero(),
            "needs root (mount(2), FUSE and containerd)");

    public static void Fuse() =>
        Require(File.Exists("/dev/fuse"), "needs /dev/fuse");

    /// <summary>Requires an executable on PATH, e.g. <c>ctr-remote</c> from Debian's stargz-snapshotter.</summary>
    public static string Tool(string name, string debianPackage)
    {
        var path = FindOnPath(name);
        Require(path is not null, $"needs '{name}' (apt-get install {debianPackage}; `make test` installs it)");
        return path!;
    }

    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin"])
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    /// <summary>Any other condition a test needs, e.g. one the code under test reports itself.</summary>
    public static void Require(bool met, string reason)
    {
        if (met)
        {
            return;
        }
        if (InCi)
        {
            Assert.Fail($"requirement not met in CI: {reason}");
        }
        Assert.Skip($"skipped outside CI: {reason}");
    }

    private static bool IsEuidZero()
    {
        try
        {
            return File.ReadAllLines("/proc/self/status")
                .FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))?
                .Split('\t', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2) == "0";
        }
        catch (IOException)
        {
            return false;
        }
    }
}
