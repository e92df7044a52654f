using System.Security.Cryptography;
using System.Text;
using Snapshotter.Testing;

namespace Snapshotter.Fuse.Tests;

/// <summary>Real mounts over /dev/fuse, checked with .NET file APIs and coreutils.</summary>
public class FuseMountTests
{
    private const int LargeSize = 20 * 1024 * 1024 + 12345;

    internal static TestFileSystem Tree()
    {
        var fs = new TestFileSystem();
        var etc = fs.AddDirectory(fs.Root, "etc");
        fs.AddFile(etc, "hostname", Encoding.UTF8.GetBytes("fusebox\n"));
        var deep = fs.AddDirectory(fs.AddDirectory(fs.Root, "usr"), "lib");
        for (var i = 0; i < 300; i++)
        {
            fs.AddFile(deep, $"lib{i:D3}.so", Encoding.UTF8.GetBytes($"library {i}\n"));
        }
        fs.AddSymlink(fs.Root, "hostname", "etc/hostname");
        fs.AddSymlink(fs.Root, "dangling", "/nowhere");
        var large = new byte[LargeSize];
        new Random(42).NextBytes(large);
        fs.AddFile(fs.Root, "large.bin", large);
        fs.Root.Children["etc"].Xattrs["user.comment"] = Encoding.UTF8.GetBytes("configuration");
        fs.Root.Children["etc"].Xattrs["user.kind"] = Encoding.UTF8.GetBytes("dir");
        return fs;
    }

    [Fact]
    public void Serves_directories_files_symlinks_and_xattrs()
    {
        using var m = MountedFileSystem.Start(Tree());
        Assert.True(FuseMount.IsMounted(m.Root));
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("hostname")));
        Assert.Equal("etc/hostname", new FileInfo(m.PathOf("hostname")).LinkTarget);
        Assert.Equal(["dangling", "etc", "hostname", "large.bin", "usr"],
            Directory.EnumerateFileSystemEntries(m.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var libs = Directory.GetFiles(m.PathOf("usr", "lib"));
        Assert.Equal(300, libs.Length);
        Assert.Equal("library 299\n", File.ReadAllText(m.PathOf("usr", "lib", "lib299.so")));

        Assert.Equal("8 644 regular file", MountedFileSystem.Run("stat", "-c", "%s %a %F", m.PathOf("etc", "hostname")).Trim());
        Assert.Equal("755 directory", MountedFileSystem.Run("stat", "-c", "%a %F", m.PathOf("usr")).Trim());
        Assert.Equal("fusebox\n", MountedFileSystem.Run("cat", m.PathOf("hostname")));
        var ls = MountedFileSystem.Run("ls", "-la", m.Root);
        Assert.Contains("hostname -> etc/hostname", ls, StringComparison.Ordinal);
        Assert.Contains("dangling -> /nowhere", ls, StringComparison.Ordinal);
        var getfattr = Requirements.Tool("getfattr", "attr");
        var xattrs = MountedFileSystem.Run(getfattr, "-d", m.PathOf("etc"));
        Assert.Contains("user.comment=\"configuration\"", xattrs, StringComparison.Ordinal);
        Assert.Contains("user.kind=\"dir\"", xattrs, StringComparison.Ordinal);
        Assert.Equal("configuration", MountedFileSystem.Run(getfattr, "--only-values", "-n", "user.comment", m.PathOf("etc")));

        var large = m.Fs.Root.Children["large.bin"].Content;
        Assert.Equal(SHA256.HashData(large), SHA256.HashData(File.ReadAllBytes(m.PathOf("large.bin"))));
        Assert.Equal(LargeSize, new FileInfo(m.PathOf("large.bin")).Length);
        Assert.Throws<FileNotFoundException>(() => File.ReadAllText(m.PathOf("etc", "missing")));
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(m.PathOf("etc", "new"), "x"));
        Assert.ThrowsAny<IOException>(() => Directory.CreateDirectory(m.PathOf("newdir")));
        Assert.DoesNotContain(m.Logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }
}
