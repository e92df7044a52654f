using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Snapshotter.Estargz;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>Prefetch regions and background fetch: complete layers, correct concurrent reads, pausing for on-demand fetches, the rate bound.</summary>
public sealed class BackgroundFetchTests
{
    private const int Files = 24;
    private const int FileSize = 80_000;

    [Fact]
    public async Task Background_fetch_makes_the_layer_fully_local_while_concurrent_reads_stay_correct()
    {
        using var temp = new TempDirectory("fs-background");
        var layer = await BuildAsync(temp);
        var gate = new FetchGate();
        using var fixture = await ReaderFixture.OpenAsync(layer, 64 << 20, new FetchOptions { ReadAheadBytes = 0, MaxRequestBytes = 64 * 1024 }, gate);
        using var background = new BackgroundFetcher(new BackgroundFetchOptions { BytesPerSecond = 0, QuietPeriod = TimeSpan.Zero }, gate, TimeProvider.System, NullLogger<BackgroundFetcher>.Instance);

        using var lifetime = new CancellationTokenSource();
        background.Enqueue(fixture.Chunks, fixture.Statistics, fixture.Blob.Digest, lifetime.Token);
        var readers = Enumerable.Range(0, 4).Select(r => Task.Run(async () =>
        {
            for (var i = Files - 1 - r; i >= 0; i -= 2)
            {
                var node = File(fixture, i);
                var buffer = new byte[FileSize];
                await fixture.Chunks.CopyAsync(node.Chunks[0], 0, buffer, node.Path, TestContext.Current.CancellationToken);
                Assert.Equal(SampleLayers.Pattern(FileSize, i), buffer);
            }
        })).ToArray();
        await Task.WhenAll(readers);
        await ChunkReaderTests.WaitUntilAsync(() => fixture.Statistics.IsFullyLocal);

        Assert.Equal(fixture.Tree.Members.TotalCompressedBytes, fixture.Statistics.FetchedBytes);
        Assert.Equal(Files, (int)fixture.Statistics.ChunksDecompressed);
        for (var i = 0; i < Files; i++)
        {
            var buffer = new byte[FileSize];
            Assert.True(fixture.Chunks.TryCopyStored(File(fixture, i).Chunks[0], 0, buffer));
            Assert.Equal(SampleLayers.Pattern(FileSize, i), buffer);
        }
    }

    [Fact]
    public async Task Background_fetch_waits_for_a_quiet_period_after_foreground_fetches_sends_small_requests_and_keeps_to_its_rate()
    {
        using var temp = new TempDirectory("fs-background");
        var layer = await BuildAsync(temp);
        var time = new FakeTimeProvider();
        var gate = new FetchGate(time);
        using var fixture = await ReaderFixture.OpenAsync(layer, 64 << 20, new FetchOptions { ReadAheadBytes = 0, MaxRequestBytes = 8 << 20 }, gate);
        var readsBefore = fixture.Blob.Reads;
        fixture.Blob.ResetLongestRead();

        // A read waits on the blob: an on-demand fetch is in flight, so background fetch must not start.
        fixture.Blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var onDemand = fixture.Chunks.CopyAsync(File(fixture, 0).Chunks[0], 0, new byte[10], "f00", TestContext.Current.CancellationToken).AsTask();
        await ChunkReaderTests.WaitUntilAsync(() => gate.ForegroundInFlight == 1);
        var options = new BackgroundFetchOptions { BytesPerSecond = 100_000, RequestBytes = 100_000, QuietPeriod = TimeSpan.FromSeconds(5) };
        using var background = new BackgroundFetcher(options, gate, time, NullLogger<BackgroundFetcher>.Instance);
        using var lifetime = new CancellationTokenSource();
        background.Enqueue(fixture.Chunks, fixture.Statistics, fixture.Blob.Digest, lifetime.Token);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(readsBefore + 1, fixture.Blob.Reads);

        // Done, but only just: background fetch waits until nothing foreground has happened for 5 s.
        fixture.Blob.Gate.SetResult();
        await onDemand;
        time.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(readsBefore + 1, fixture.Blob.Reads);

        // Then it sends one request, and waits for the rate budget of the next.
        time.Advance(TimeSpan.FromSeconds(1));
        await ChunkReaderTests.WaitUntilAsync(() => fixture.Blob.Reads == readsBefore + 2);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(readsBefore + 2, fixture.Blob.Reads);
        Assert.False(fixture.Statistics.IsFullyLocal);

        for (var step = 0; step < 100 && !fixture.Statistics.IsFullyLocal; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        Assert.True(fixture.Statistics.IsFullyLocal);
        // Requests of at most 100 KB (members of ~80 KB are not merged) although the layer's
        // MaxRequestBytes is 8 MiB, about one per simulated second: never the whole layer at once.
        Assert.InRange(fixture.Blob.LongestRead, 1, 100_000);
        Assert.True(fixture.Blob.Reads - readsBefore >= fixture.Tree.Members.TotalCompressedBytes / 100_000);
    }

    [Fact]
    public async Task A_read_does_not_wait_behind_a_background_request_that_waits_for_its_turn()
    {
        using var temp = new TempDirectory("fs-background");
        var layer = await BuildAsync(temp);
        var time = new FakeTimeProvider();
        var gate = new FetchGate(time);
        using var fixture = await ReaderFixture.OpenAsync(layer, 64 << 20, new FetchOptions { ReadAheadBytes = 0 }, gate);
        await fixture.Chunks.CopyAsync(File(fixture, 0).Chunks[0], 0, new byte[10], "f00", TestContext.Current.CancellationToken);

        // Background fetch now waits 5 s (simulated, never advanced) for the link to be quiet, its
        // next request would cover the whole layer.
        var options = new BackgroundFetchOptions { BytesPerSecond = 0, RequestBytes = 64 << 20, QuietPeriod = TimeSpan.FromSeconds(5) };
        using var background = new BackgroundFetcher(options, gate, time, NullLogger<BackgroundFetcher>.Instance);
        using var lifetime = new CancellationTokenSource();
        background.Enqueue(fixture.Chunks, fixture.Statistics, fixture.Blob.Digest, lifetime.Token);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var readsBefore = fixture.Blob.Reads;

        // A read of a file inside that request fetches on its own at once.
        var buffer = new byte[FileSize];
        await fixture.Chunks.CopyAsync(File(fixture, 12).Chunks[0], 0, buffer, "f12", TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(SampleLayers.Pattern(FileSize, 12), buffer);
        Assert.Equal(readsBefore + 1, fixture.Blob.Reads);
    }

    [Fact]
    public async Task Read_ahead_counts_as_foreground_work()
    {
        using var temp = new TempDirectory("fs-background");
        var layer = await BuildAsync(temp);
        var gate = new FetchGate();
        using var fixture = await ReaderFixture.OpenAsync(layer, 64 << 20, new FetchOptions { ReadAheadBytes = 1 << 20 }, gate);

        fixture.Blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var read = fixture.Chunks.CopyAsync(File(fixture, 0).Chunks[0], 0, new byte[10], "f00", TestContext.Current.CancellationToken).AsTask();
        // The miss and its read-ahead are both on the link; background fetch must wait for both.
        await ChunkReaderTests.WaitUntilAsync(() => gate.ForegroundInFlight == 2);
        Assert.False(gate.WhenIdleAsync(TestContext.Current.CancellationToken).IsCompleted);
        fixture.Blob.Gate.SetResult();
        await read;
        await gate.WhenIdleAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(0, gate.ForegroundInFlight);
    }

    [Fact]
    public async Task Prefetch_covers_a_small_layer_whole_and_otherwise_what_its_landmarks_or_the_configured_size_say()
    {
        using var temp = new TempDirectory("fs-background");
        var tar = Tar();
        var prioritized = await TestLayers.BuildAsync(tar, temp.Combine("prioritized.esgz"),
            new EstargzBuildOptions { CompressionLevel = 1, PrioritizedFiles = ["f05", "f03"] });
        var plain = await BuildAsync(temp);

        using var withLandmark = await ReaderFixture.OpenAsync(prioritized, 1 << 20, FetchOptions.Default);
        var reader = await EstargzReader.OpenAsync(withLandmark.Blob, prioritized.TocDigest, cancellationToken: TestContext.Current.CancellationToken);
        var end = LayerContent.PrefetchEnd(reader, withLandmark.Tree.Members, PrefetchOptions.Default);
        Assert.Equal(2, end);
        var prefetched = Enumerable.Range(0, end).Select(m => withLandmark.Tree.Members.Chunks(m)[0].Path).ToList();
        Assert.Equal(["f05", "f03"], prefetched);
        Assert.Equal(0, LayerContent.PrefetchEnd(reader, withLandmark.Tree.Members, PrefetchOptions.Default with { Enabled = false }));

        // The converter marks a layer without prioritized files with .no.prefetch.landmark: nothing, whatever the size.
        using var noPrefetch = await ReaderFixture.OpenAsync(plain, 1 << 20, FetchOptions.Default);
        var noReader = await EstargzReader.OpenAsync(noPrefetch.Blob, plain.TocDigest, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(noReader.HasNoPrefetchLandmark);
        Assert.Equal(0, LayerContent.PrefetchEnd(noReader, noPrefetch.Tree.Members, PrefetchOptions.Default with { SizeWithoutLandmark = long.MaxValue }));

        // A layer with no landmark at all (older stargz) prefetches the configured size (rpull's stargz.prefetch label).
        var bare = TestLayers.EditToc(plain, toc => toc.Entries.Remove(toc.Entries.Single(e => e.Name == EstargzConstants.NoPrefetchLandmark)), temp.Combine("bare.esgz"));
        using var withoutLandmark = await ReaderFixture.OpenAsync(bare, 1 << 20, FetchOptions.Default);
        var bareReader = await EstargzReader.OpenAsync(withoutLandmark.Blob, bare.TocDigest, cancellationToken: TestContext.Current.CancellationToken);
        var members = withoutLandmark.Tree.Members;
        Assert.Equal(0, LayerContent.PrefetchEnd(bareReader, members, PrefetchOptions.Default));
        Assert.Equal(3, LayerContent.PrefetchEnd(bareReader, members, PrefetchOptions.Default with { SizeWithoutLandmark = members.Offset(3) }));
        Assert.Equal(members.Count, LayerContent.PrefetchEnd(bareReader, members, PrefetchOptions.Default with { SizeWithoutLandmark = long.MaxValue }));

        // A layer whose file data is at most WholeLayerMaxBytes comes whole, landmarks or not; unless prefetch is off.
        var plainEnd = noPrefetch.Tree.Members.End(noPrefetch.Tree.Members.Count - 1);
        Assert.Equal(noPrefetch.Tree.Members.Count, LayerContent.PrefetchEnd(noReader, noPrefetch.Tree.Members, PrefetchOptions.Default with { WholeLayerMaxBytes = plainEnd }));
        Assert.Equal(0, LayerContent.PrefetchEnd(noReader, noPrefetch.Tree.Members, PrefetchOptions.Default with { WholeLayerMaxBytes = plainEnd - 1 }));
        Assert.Equal(0, LayerContent.PrefetchEnd(noReader, noPrefetch.Tree.Members, PrefetchOptions.Default with { WholeLayerMaxBytes = plainEnd, Enabled = false }));
        var prioritizedEnd = withLandmark.Tree.Members.End(withLandmark.Tree.Members.Count - 1);
        Assert.Equal(2, LayerContent.PrefetchEnd(reader, withLandmark.Tree.Members, PrefetchOptions.Default with { WholeLayerMaxBytes = prioritizedEnd - 1 }));
        Assert.Equal(withLandmark.Tree.Members.Count, LayerContent.PrefetchEnd(reader, withLandmark.Tree.Members, PrefetchOptions.Default with { WholeLayerMaxBytes = prioritizedEnd }));
    }

    private static byte[] Tar()
    {
        var tar = new TarBuilder();
        for (var i = 0; i < Files; i++)
        {
            tar.File($"f{i:D2}", SampleLayers.Pattern(FileSize, i));
        }
        return tar.Build();
    }

    private static Task<EstargzFile> BuildAsync(TempDirectory temp) =>
        TestLayers.BuildAsync(Tar(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });

    private static Node File(ReaderFixture fixture, int i) => fixture.Tree.Root.FindChild(Encoding.UTF8.GetBytes($"f{i:D2}"))!;
}
