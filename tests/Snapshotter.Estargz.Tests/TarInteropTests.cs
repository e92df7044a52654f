using Snapshotter.Testing;

namespace Snapshotter.Estargz.Tests;

/// <summary>Our eStargz output is an ordinary tar.gz to GNU tar and gzip, unpacking to the input's tree.</summary>
public sealed class TarInteropTests
{
    private static readonly string[] EstargzFiles = [EstargzConstants.TocFileName, EstargzConstants.PrefetchLandmark, EstargzConstants.NoPrefetchLandmark];

    [Fact]
    public async Task Gzip_accepts_every_member_and_its_crc()
    {
        var gzip = Requirements.Tool("gzip", "gzip");
        using var directory = new TempDirectory();
        var (blob, _) = await Build.EstargzAsync(Build.Sample.Build(), Build.SmallChunks with { MinChunkSize = 16 * 1024 });
        var path = directory.Combine("layer.tar.gz");
        await File.WriteAllBytesAsync(path, blob, TestContext.Current.CancellationToken);

        (await ProcessRunner.RunAsync(gzip, "-t", path)).EnsureSuccess();
    }

    [Fact]
    public async Task Tar_lists_the_same_entries_as_the_input()
    {
        var tar = Requirements.Tool("tar", "tar");
        using var directory = new TempDirectory();
        var input = directory.Combine("input.tar");
        var output = directory.Combine("output.tar.gz");
        await File.WriteAllBytesAsync(input, Build.Sample.Build(), TestContext.Current.CancellationToken);
        var (blob, _) = await Build.EstargzAsync(Build.Sample.Build(), Build.SmallChunks);
        await File.WriteAllBytesAsync(output, blob, TestContext.Current.CancellationToken);

        var expected = await ListAsync(tar, "-tvf", input);
        var actual = await ListAsync(tar, "-tvzf", output);
        Assert.Equal(expected, actual.Where(line => !EstargzFiles.Any(f => line.EndsWith(" " + f, StringComparison.Ordinal))));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tar_unpacks_the_same_tree_as_the_input(bool prioritized)
    {
        Requirements.Root(); // devices, owners and xattrs need root to be recreated faithfully
        var tar = Requirements.Tool("tar", "tar");
        using var directory = new TempDirectory();
        var input = directory.Combine("input.tar");
        var output = directory.Combine("output.tar.gz");
        var layer = Build.Sample.Build();
        await File.WriteAllBytesAsync(input, layer, TestContext.Current.CancellationToken);
        var options = Build.SmallChunks with { PrioritizedFiles = prioritized ? ["usr/lib/hard-to-big", "bin/sh", "deep/long-symlink"] : [] };
        var (blob, _) = await Build.EstargzAsync(layer, options);
        await File.WriteAllBytesAsync(output, blob, TestContext.Current.CancellationToken);
        var expectedTree = Directory.CreateDirectory(directory.Combine("expected")).FullName;
        var actualTree = Directory.CreateDirectory(directory.Combine("actual")).FullName;

        (await ProcessRunner.RunAsync(tar, "--xattrs", "--xattrs-include=*", "-xpf", input, "-C", expectedTree)).EnsureSuccess();
        (await ProcessRunner.RunAsync(tar, "--xattrs", "--xattrs-include=*", "-xpzf", output, "-C", actualTree)).EnsureSuccess();

        var expected = FileTree.Read(expectedTree);
        var actual = FileTree.Read(actualTree, EstargzFiles.ToHashSet());
        if (prioritized)
        {
            // GNU tar stamps a directory's mtime when it is done with it; moving files ahead of their
            // siblings makes it touch the directory again later. containerd sets directory times last.
            expected = [.. expected.Select(WithoutDirectoryTime)];
            actual = [.. actual.Select(WithoutDirectoryTime)];
        }
        Assert.Empty(FileTree.Differences(expected, actual));
        Assert.Contains(expected, e => e.Type == 'c' && e.DeviceMajor == 1 && e.DeviceMinor == 3);
        Assert.Contains(expected, e => e.Xattrs.Contains("user.comment", StringComparison.Ordinal));
        Assert.True(expected.Count >= Build.Sample.Entries.Count - 1, "the tree holds every entry"); // "./" is the root itself
        Assert.Equal([0x0f], await File.ReadAllBytesAsync(Path.Combine(actualTree, prioritized ? EstargzConstants.PrefetchLandmark : EstargzConstants.NoPrefetchLandmark), TestContext.Current.CancellationToken));
    }

    private static FileTreeEntry WithoutDirectoryTime(FileTreeEntry entry) =>
        entry.Type == 'd' ? entry with { ModifiedSeconds = 0 } : entry;

    private static async Task<List<string>> ListAsync(string tar, string flags, string path) =>
        (await ProcessRunner.RunAsync(tar, "--numeric-owner", "--full-time", flags, path)).EnsureSuccess().StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
}
