using Snapshotter.Estargz;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>With a passthrough directory, a file opened once is written out verified and later opens bypass user space.</summary>
public sealed class PassthroughTests
{
    [Fact]
    public async Task Opened_files_are_materialised_and_then_read_by_the_kernel_directly()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-passthrough");
        var content = SampleLayers.Pattern(2 * 1024 * 1024 + 17, 9);
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("data.bin", content).File("small", "small\n").Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = 512 * 1024, CompressionLevel = 1 });
        var budget = new PassthroughBudget(content.Length + 3);
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"), new LayerMountOptions { PassthroughDirectory = temp.Combine("backing"), PassthroughBudget = budget });
        Assert.True(mounted.Mount.Connection?.Passthrough, "the kernel did not agree to FUSE passthrough");
        var path = Path.Combine(mounted.Path, "data.bin");

        // The first open starts writing the backing file; nothing is read through FUSE yet.
        using (File.OpenHandle(path))
        {
        }
        await mounted.Mount.WhenPassthroughIdleAsync().WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(0, mounted.Mount.Statistics.ReadRequests);
        Assert.Single(Directory.GetFiles(temp.Combine("backing"), "*", SearchOption.AllDirectories));
        Assert.Equal(content.Length, budget.UsedBytes);

        var read = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);

        Assert.True(content.AsSpan().SequenceEqual(read));
        Assert.Equal(0, mounted.Mount.Statistics.ReadRequests);
        // The reads never reached us, so reads.json says the whole file was read, not that none of it was.
        var reads = await File.ReadAllTextAsync(Path.Combine(mounted.Path, ".stargz-snapshotter", "reads.json"), TestContext.Current.CancellationToken);
        Assert.Equal($"{{\"path\":\"data.bin\",\"ranges\":[[0,{content.Length}]]}}\n", reads);
        // "small" does not fit in what is left of the budget: it is served through user space.
        Assert.Equal("small\n", await File.ReadAllTextAsync(Path.Combine(mounted.Path, "small"), TestContext.Current.CancellationToken));
        Assert.Equal(content.Length, budget.UsedBytes);

        // Unmounting deletes the mount's backing files and returns their bytes to the budget.
        mounted.Dispose();
        Assert.Empty(Directory.GetFiles(temp.Combine("backing"), "*", SearchOption.AllDirectories));
        Assert.Equal(0, budget.UsedBytes);
    }
}
