using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>
/// <c>.stargz-snapshotter/accessed.txt</c>: the layer paths in the order the mount first used them
/// (lookup or open), each once, without the status files or whiteouts (what <c>estargz optimize</c> records).
/// </summary>
public sealed class AccessLogTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Lists_each_used_file_and_directory_once_in_first_use_order()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-accessed");
        var layer = await TestLayers.BuildAsync(new TarBuilder()
            .Directory("data/")
            .File("data/x", "x\n")
            .File("data/y", "y\n")
            .File("data/unread", "never\n")
            .Directory("etc/")
            .File("etc/hostname", "h\n")
            .Whiteout("etc/gone")
            .Build(), temp.Combine("layer.esgz"));
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"));
        var accessed = Path.Combine(mounted.Path, ".stargz-snapshotter", "accessed.txt");
        Assert.Equal("", await File.ReadAllTextAsync(accessed, Token));

        await File.ReadAllTextAsync(Path.Combine(mounted.Path, "data", "y"), Token);
        await File.ReadAllTextAsync(Path.Combine(mounted.Path, "etc", "hostname"), Token);
        await File.ReadAllTextAsync(Path.Combine(mounted.Path, "data", "x"), Token);
        await File.ReadAllTextAsync(Path.Combine(mounted.Path, "data", "y"), Token);
        Assert.True(Path.Exists(Path.Combine(mounted.Path, "etc", "gone"))); // a whiteout (0/0 device for overlayfs): looked up, not recorded
        await File.ReadAllTextAsync(Path.Combine(mounted.Path, ".stargz-snapshotter", "layer.json"), Token);

        Assert.Equal(["data", "data/y", "etc", "etc/hostname", "data/x"], await File.ReadAllLinesAsync(accessed, Token));
        Assert.Equal(new FileInfo(accessed).Length, (await File.ReadAllBytesAsync(accessed, Token)).Length);
    }

    [Fact]
    public async Task Many_concurrent_readers_record_every_file_exactly_once()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-accessed-many");
        var builder = new TarBuilder().Directory("many/");
        var names = Enumerable.Range(0, 300).Select(i => $"many/file-{i:D3}").ToList();
        names.ForEach(name => builder.File(name, name + "\n"));
        var layer = await TestLayers.BuildAsync(builder.Build(), temp.Combine("layer.esgz"));
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"));

        await Parallel.ForEachAsync(names.Concat(names), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Token },
            async (name, cancellationToken) => await File.ReadAllTextAsync(Path.Combine(mounted.Path, name), cancellationToken));

        var lines = await File.ReadAllLinesAsync(Path.Combine(mounted.Path, ".stargz-snapshotter", "accessed.txt"), Token);
        Assert.Equal("many", lines[0]);
        Assert.Equal(names.Order(StringComparer.Ordinal), lines.Skip(1).Order(StringComparer.Ordinal));
    }
}
