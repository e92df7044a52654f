namespace Snapshotter.Testing;

/// <summary>A directory under /tmp that is removed with everything in it when disposed.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "snapshotter-test")
    {
        Path = Directory.CreateTempSubdirectory(prefix + "-").FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A mount still busy under the directory must not fail the test that owned it.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
