namespace Snapshotter.Testing;

/// <summary>Paths inside this repository, found from the test assembly's location.</summary>
public static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    public static string Script(string name) => Path.Combine(Root, "script", name);

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
