using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>
/// The prefetched pages of a file the kernel looks up are put into its page cache, so reading the
/// file needs no READ; files outside the prefetch are left to READs.
/// </summary>
public sealed class PageCacheFillTests
{
    private static readonly byte[] Big = SampleLayers.Pattern(700_001, 5); // not a whole number of pages

    [Fact]
    public async Task A_looked_up_prefetched_file_is_read_from_the_page_cache()
    {
        using var temp = new TempDirectory("fs-page-fill");
        using var mounted = await MountAsync(temp, fill: true);
        var ct = TestContext.Current.CancellationToken;
        var big = Path.Combine(mounted.Path, "app/big.bin");

        Assert.True(File.Exists(big)); // a LOOKUP: the kernel now has the inode
        await WaitForAsync(() => mounted.Mount.PageCacheFilled == Big.Length, ct);
        var reads = mounted.Mount.Statistics.ReadRequests;
        Assert.Equal(Big, await File.ReadAllBytesAsync(big, ct));
        Assert.Equal(reads, mounted.Mount.Statistics.ReadRequests);

        // Not in the prefetch: nothing stored, read with READs.
        Assert.Equal("cold\n", await File.ReadAllTextAsync(Path.Combine(mounted.Path, "cold/data"), ct));
        Assert.True(mounted.Mount.Statistics.ReadRequests > reads);
        Assert.Equal(Big.Length, mounted.Mount.PageCacheFilled);
    }

    [Fact]
    public async Task Without_the_fill_the_same_read_takes_READs()
    {
        using var temp = new TempDirectory("fs-page-nofill");
        using var mounted = await MountAsync(temp, fill: false);
        var ct = TestContext.Current.CancellationToken;
        var big = Path.Combine(mounted.Path, "app/big.bin");

        Assert.True(File.Exists(big));
        await mounted.Mount.PrefetchCompletion.WaitAsync(TimeSpan.FromSeconds(60), ct);
        var reads = mounted.Mount.Statistics.ReadRequests;
        Assert.Equal(Big, await File.ReadAllBytesAsync(big, ct));
        Assert.True(mounted.Mount.Statistics.ReadRequests > reads);
        Assert.Equal(0, mounted.Mount.PageCacheFilled);
    }

    private static async Task<MountedLayer> MountAsync(TempDirectory temp, bool fill)
    {
        Requirements.Root();
        Requirements.Fuse();
        var tar = new TarBuilder().Directory("app/").File("app/big.bin", Big).Directory("cold/").File("cold/data", "cold\n").Build();
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1, PrioritizedFiles = ["app/big.bin"] });
        var options = new LayerMountOptions { Prefetch = PrefetchOptions.Default with { FillPageCache = fill } };
        return await MountedLayer.MountAsync(layer, temp.Combine("fs"), options);
    }

    private static async Task WaitForAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        for (var waited = 0; !condition(); waited += 10)
        {
            Assert.True(waited < 30_000, "the condition did not hold within 30 s");
            await Task.Delay(10, cancellationToken);
        }
    }
}
