using Snapshotter.Estargz;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>The kernel's readahead of a layer mount: a small window while chunks are fetched on demand, 4 MiB once the layer is local.</summary>
public sealed class ReadAheadTests
{
    [Fact]
    public async Task Readahead_is_small_while_the_layer_is_lazy_and_large_once_it_is_local()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-readahead");
        var tar = new TarBuilder().Directory("lib/")
            .File("lib/big.so", SampleLayers.Pattern(9 * 1024 * 1024, 3))
            .File("lib/small.so", SampleLayers.Pattern(70_000, 4))
            .Build();
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"));
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"));
        Assert.False(mounted.Mount.Statistics.IsFullyLocal);
        Assert.Equal(128, ReadAheadOf(mounted.Path));

        // Reading every file fetches every chunk member.
        foreach (var file in new[] { "lib/big.so", "lib/small.so" })
        {
            await File.ReadAllBytesAsync(Path.Combine(mounted.Path, file), TestContext.Current.CancellationToken);
        }
        await mounted.Mount.Statistics.FullyLocal.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (ReadAheadOf(mounted.Path) != 4096 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        Assert.Equal(4096, ReadAheadOf(mounted.Path));
    }

    [Fact]
    public async Task Without_a_lazy_window_the_mount_starts_at_the_full_readahead()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-readahead-full");
        var layer = await TestLayers.BuildAsync(TestLayers.Everything().Build(), temp.Combine("layer.esgz"));
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"), new LayerMountOptions { LazyReadAheadKiB = null });
        Assert.Equal(4096, ReadAheadOf(mounted.Path));
    }

    private static int ReadAheadOf(string mountPoint)
    {
        var device = File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Last(f => f[4] == mountPoint)[2];
        return int.Parse(File.ReadAllText($"/sys/class/bdi/{device}/read_ahead_kb").Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
