using Snapshotter.Estargz;
using Snapshotter.Fuse.Protocol;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>What LayerFileSystem asks of the kernel's page cache when a file is opened.</summary>
public sealed class OpenFlagsTests
{
    [Fact]
    public async Task A_regular_file_keeps_its_page_cache_and_is_closed_without_a_FLUSH()
    {
        using var temp = new TempDirectory("fs-open");
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f", SampleLayers.Pattern(64 * 1024, 1)).Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 1024 * 1024, new FetchOptions { ReadAheadBytes = 0 });
        var fs = new LayerFileSystem(fixture.Tree, fixture.Chunks, fixture.Blob, fixture.Statistics, TimeSpan.FromHours(1), passthrough: null);

        Assert.Equal(0, fs.Open(fixture.File.Ino, 0 /* O_RDONLY */, out var result));

        // Without KeepCache the kernel drops the file's page cache at every open; without NoFlush
        // every close(2) waits for a FLUSH round trip that has nothing to flush.
        Assert.Equal(FuseOpenFlags.KeepCache | FuseOpenFlags.NoFlush, result.Flags);
        Assert.Null(result.PassthroughFile);
    }
}
