using System.Collections.Concurrent;
using Snapshotter.Containerd.Pull;
using Snapshotter.Oci;

namespace Snapshotter.Containerd.Tests;

public sealed class LayerFetchesTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Only_layers_without_a_toc_are_fetched_ahead_three_at_a_time_and_their_results_are_used()
    {
        // Layers 0-5 plain, 6 eStargz (a TOC digest).
        var layers = Enumerable.Range(0, 7).Select(i => Layer(i, toc: i == 6)).ToList();
        var release = new TaskCompletionSource();
        var running = 0;
        var peak = 0;
        var ahead = new ConcurrentBag<int>();
        var now = new ConcurrentBag<int>();
        await using var fetches = new LayerFetches(layers,
            (i, _) => { now.Add(i); return Task.FromResult(100L + i); },
            async (i, token) =>
            {
                ahead.Add(i);
                var current = Interlocked.Increment(ref running);
                InterlockedMax(ref peak, current);
                await release.Task.WaitAsync(token);
                Interlocked.Decrement(ref running);
                return i == 4 ? null : 10L + i; // 4: its snapshot exists, skipped
            },
            Token);

        fetches.StartAhead(1);
        fetches.StartAhead(2); // again: nothing is fetched twice
        await WaitUntilAsync(() => Volatile.Read(ref running) == LayerFetches.MaxConcurrent);
        Assert.Equal(LayerFetches.MaxConcurrent, Volatile.Read(ref peak));
        release.SetResult();

        Assert.Equal(100, await fetches.FetchAsync(0));   // never ahead: fetched now
        Assert.Equal(11, await fetches.FetchAsync(1));    // the result of the fetch ahead
        await fetches.ForgetAsync(2);                     // the snapshotter took it after all
        Assert.Equal(104, await fetches.FetchAsync(4));   // skipped ahead: fetched now
        Assert.Equal(106, await fetches.FetchAsync(6));   // a TOC: never ahead
        Assert.Equal([1, 2, 3, 4, 5], ahead.Order());
        Assert.Equal([0, 4, 6], now.Order());
        Assert.True(Volatile.Read(ref peak) <= LayerFetches.MaxConcurrent);
    }

    [Fact]
    public async Task Disposing_cancels_fetches_still_running_and_waits_for_them()
    {
        var layers = Enumerable.Range(0, 3).Select(i => Layer(i, toc: false)).ToList();
        var ended = 0;
        var fetches = new LayerFetches(layers, (i, _) => Task.FromResult(0L), async (_, token) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, token);
                return 0;
            }
            finally
            {
                Interlocked.Increment(ref ended);
            }
        }, Token);
        fetches.StartAhead(0);
        await fetches.DisposeAsync();
        Assert.Equal(3, Volatile.Read(ref ended));
    }

    [Fact]
    public async Task A_failed_fetch_ahead_fails_the_layer_that_needs_it_but_not_one_forgotten()
    {
        var layers = Enumerable.Range(0, 2).Select(i => Layer(i, toc: false)).ToList();
        await using var fetches = new LayerFetches(layers, (i, _) => Task.FromResult(0L),
            (i, _) => Task.FromException<long?>(new IOException($"blob {i} lost")), Token);
        fetches.StartAhead(0);
        await fetches.ForgetAsync(0);
        Assert.Equal("blob 1 lost", (await Assert.ThrowsAsync<IOException>(() => fetches.FetchAsync(1))).Message);
    }

    private static Descriptor Layer(int index, bool toc)
    {
        var layer = new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = Digest.Compute(BitConverter.GetBytes(index)), Size = 1 };
        return toc ? layer.WithAnnotation(LayerFetches.TocDigestAnnotation, Digest.Compute("toc"u8).Value) : layer;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10, Token);
        }
    }
}
