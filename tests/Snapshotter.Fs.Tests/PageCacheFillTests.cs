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
        await ChunkReaderTests.WaitUntilAsync(() => mounted.Mount.PageCacheFilled == Big.Length);
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

    [Fact]
    public async Task A_chunk_that_fails_verification_is_never_stored_and_later_files_still_are()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-page-corrupt");
        var ct = TestContext.Current.CancellationToken;
        var tar = new TarBuilder().Directory("app/").File("app/big.bin", Big).File("app/good.txt", "good\n").Build();
        var valid = await TestLayers.BuildAsync(tar, temp.Combine("valid.esgz"),
            new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1, PrioritizedFiles = ["app/big.bin", "app/good.txt"] });
        var wrong = Oci.Digest.Compute("not this chunk"u8).Value;
        var hostile = TestLayers.EditToc(valid, toc => toc.Entries.Where(e => e.Name == "app/big.bin").ElementAt(1).ChunkDigest = wrong, temp.Combine("hostile.esgz"));
        using var mounted = await MountedLayer.MountAsync(hostile, temp.Combine("fs"));

        Assert.True(File.Exists(Path.Combine(mounted.Path, "app/big.bin")));
        Assert.True(File.Exists(Path.Combine(mounted.Path, "app/good.txt")));
        // The good file is stored after the broken one: the fill went on past it.
        await ChunkReaderTests.WaitUntilAsync(() => mounted.Mount.PageCacheFilled >= "good\n".Length);
        Assert.True(mounted.Mount.PageCacheFilled < Big.Length);
        await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllBytesAsync(Path.Combine(mounted.Path, "app/big.bin"), ct));
        Assert.Equal("good\n", await File.ReadAllTextAsync(Path.Combine(mounted.Path, "app/good.txt"), ct));
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
}
