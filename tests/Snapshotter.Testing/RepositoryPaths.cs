namespace Snapshotter.Testing;

/// <summary>Paths inside this repository, found from the test assembly's location.</summary>
public static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    public static string Script(string name) => Path.Combine(Root, "script", name);

    /// <summary>
    /// The <c>estargz</c> CLI in its own build output (same configuration as the tests). Run it from
    /// there, not from a test's bin: a test project that references the web daemon gets ASP.NET's
    /// copies of shared libraries, which the CLI (a plain console app) cannot load.
    /// </summary>
    public static string EstargzCli => Path.Combine(Root, "estargz-tools", "bin", Configuration, "net10.0", "estargz.dll");

    /// <summary>The <c>stargzctl</c> CLI in its own build output (see <see cref="EstargzCli"/> for why not a test's bin).</summary>
    public static string Stargzctl => Path.Combine(Root, "src", "Snapshotter.Cli", "bin", Configuration, "net10.0", "stargzctl.dll");

    /// <summary>The daemon executable, <c>stargz-snapshotter</c>, in its own build output (a test project builds it with a reference that does not copy it).</summary>
    public static string SnapshotterDaemon => Path.Combine(Root, "src", "Snapshotter.Daemon", "bin", Configuration, "net10.0", "stargz-snapshotter");

    private static string Configuration => AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Snapshotter.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"no Snapshotter.sln above {AppContext.BaseDirectory}");
    }
}
