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
}
