using Snapshotter.Estargz;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>What LayerFileSystem lets the kernel cache about names.</summary>
public sealed class LookupTests
{
    [Fact]
    public async Task A_missing_name_is_a_negative_entry_the_kernel_caches_as_long_as_names()
    {
        using var temp = new TempDirectory("fs-lookup");
        var layer = await TestLayers.BuildAsync(new TarBuilder().Directory("lib/").File("lib/f", "x"u8.ToArray()).Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 1024 * 1024, new FetchOptions { ReadAheadBytes = 0 });
        var fs = new LayerFileSystem(fixture.Tree, fixture.Chunks, fixture.Blob, fixture.Statistics, TimeSpan.FromHours(1), passthrough: null);
        var lib = fixture.Tree.Root.FindChild("lib"u8)!;

        // overlayfs asks every lower layer above the one that has a name; a layer never gains
        // names, so "not here" may be cached like any entry instead of asked again.
        Assert.Equal(0, fs.Lookup(lib.Ino, "missing.so"u8, out var missing));
        Assert.Equal(0ul, missing.NodeId);
        Assert.Equal(3600ul, missing.EntryValid);

        Assert.Equal(0, fs.Lookup(lib.Ino, "f"u8, out var found));
        Assert.NotEqual(0ul, found.NodeId);
        Assert.Equal(3600ul, found.EntryValid);
        Assert.Equal(Fuse.Errno.ENOTDIR, fs.Lookup(found.NodeId, "x"u8, out _));
    }

    [Fact]
    public async Task Each_lookup_of_a_generated_file_is_a_new_node_with_the_content_of_its_moment_until_forgotten()
    {
        using var temp = new TempDirectory("fs-lookup");
        var layer = await TestLayers.BuildAsync(new TarBuilder().Directory("lib/").File("lib/f", "x"u8.ToArray()).File("lib/g", "y"u8.ToArray()).Build(),
            temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 1024 * 1024, new FetchOptions { ReadAheadBytes = 0 });
        var fs = new LayerFileSystem(fixture.Tree, fixture.Chunks, fixture.Blob, fixture.Statistics, TimeSpan.FromHours(1), passthrough: null);
        Assert.True(fs.FilesNeedNoOpen);
        Assert.Equal(0, fs.Lookup(1, ".stargz-snapshotter"u8, out var status));
        var lib = fixture.Tree.Root.FindChild("lib"u8)!;
        Assert.Equal(0, fs.Lookup(lib.Ino, "f"u8, out _));

        Assert.Equal(0, fs.Lookup(status.NodeId, "accessed.txt"u8, out var first));
        Assert.Equal(0, fs.Lookup(lib.Ino, "g"u8, out _));
        Assert.Equal(0, fs.Lookup(status.NodeId, "accessed.txt"u8, out var second));

        // Never cached by name; each instance keeps its content, and its size says so.
        Assert.NotEqual(first.NodeId, second.NodeId);
        Assert.Equal(0ul, second.EntryValid);
        Assert.Equal("lib/f\n", await ReadAllAsync(fs, first.NodeId));
        Assert.Equal("lib/f\nlib/g\n", await ReadAllAsync(fs, second.NodeId));
        Assert.Equal(0, fs.GetAttr(second.NodeId, out var attr, out _));
        Assert.Equal((ulong)"lib/f\nlib/g\n".Length, attr.Size);

        Assert.Equal(2, fs.GeneratedInstances);
        fs.Forget(first.NodeId, 1);
        fs.Forget(second.NodeId, 1);
        Assert.Equal(0, fs.GeneratedInstances);
        Assert.Equal(Fuse.Errno.ENOENT, fs.GetAttr(first.NodeId, out _, out _));
    }

    private static async Task<string> ReadAllAsync(LayerFileSystem fs, ulong nodeId)
    {
        var buffer = new byte[4096];
        var count = await fs.ReadAsync(nodeId, 0, 0, buffer, TestContext.Current.CancellationToken);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, count);
    }
}
