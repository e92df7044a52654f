using Snapshotter.Daemon.Remote;
using Snapshotter.Fs;
using Snapshotter.Registry;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// <c>[prefetch] pull_wait_seconds</c>: the lazy Prepare of an image's top layer holds the pull until
/// every layer's prefetch is local, at most that long.
/// </summary>
public sealed class PullWaitTests
{
    // Each layer: a prioritized 2 MB file (its members end before 1 MB of the ~1.8 MB blob, so the
    // prefetch asks for ranges below that) and a cold one; the footer and TOC are read from the end.
    private const long PrefetchRangesBelow = 1_000_000;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_top_layer_holds_the_pull_until_every_layers_prefetch_is_local()
    {
        await using var image = await PushAsync("pullwait:1", TimeSpan.FromSeconds(60));
        var proxy = image.Proxy;
        HoldPrefetches(proxy);
        await image.MountAsync(0);
        await image.MountAsync(1);

        // A lower layer is not the end of the pull: it does not wait.
        Assert.True(image.PreparedAsync(0).IsCompleted);
        var top = image.PreparedAsync(1);
        await Task.Delay(500, Token);
        Assert.False(top.IsCompleted);

        proxy.Hold!.SetResult();
        await top.WaitAsync(TimeSpan.FromSeconds(30), Token);
        // Once the pull ends, both layers serve their prefetched files without the registry.
        proxy.Fault = RegistryFault.Unavailable;
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(Hot(i), await File.ReadAllBytesAsync(Path.Combine(image.MountPoints[i], "hot"), Token));
        }
    }

    [Fact]
    public async Task The_pull_ends_without_the_prefetch_after_the_wait_and_at_once_when_it_is_off()
    {
        await using var bounded = await PushAsync("pullwait:2", TimeSpan.FromSeconds(1));
        HoldPrefetches(bounded.Proxy);
        await bounded.MountAsync(0);
        await bounded.MountAsync(1);
        // The registry never answers the prefetch: the pull still ends, after the wait.
        var pending = bounded.PreparedAsync(1);
        Assert.False(pending.IsCompleted);
        await pending.WaitAsync(TimeSpan.FromSeconds(30), Token);
        bounded.Proxy.Hold!.SetResult();

        await using var off = await PushAsync("pullwait:3", TimeSpan.Zero);
        HoldPrefetches(off.Proxy);
        await off.MountAsync(0);
        await off.MountAsync(1);
        Assert.True(off.PreparedAsync(1).IsCompleted);
    }

    private static byte[] Hot(int layer) => SampleLayers.Pattern(2 << 20, layer);

    private static void HoldPrefetches(FaultyRegistryProxy proxy)
    {
        proxy.HoldRangesBelow = PrefetchRangesBelow;
        proxy.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static Task<MountedImage> PushAsync(string name, TimeSpan pullWait) =>
        MountedImage.PushAsync(name,
            Enumerable.Range(0, 2).Select(i => new[] { ("hot", Hot(i)), ("cold", SampleLayers.Pattern(2 << 20, 10 + i)) }),
            new LayerMountOptions
            {
                Fetch = FetchOptions.Default with { ReadAheadBytes = 0, Timeout = TimeSpan.FromSeconds(5) },
                Prefetch = PrefetchOptions.Default with { PullWait = pullWait },
            },
            prioritized: ["hot"]);
}
