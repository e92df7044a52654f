using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>
/// The prefetch hint (<see cref="PrefetchHint"/>): the ranges a builder writes are exactly what the
/// snapshotter's prefetch fetches, and <see cref="EarlyPrefetchBlob"/> serves reads of them from
/// what it fetched ahead, falling back to the blob for anything it does not hold.
/// </summary>
public sealed class EarlyPrefetchTests
{
    private const int Chunk = 256 * 1024;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static TheoryData<string> Layouts => ["marked", "unmarked", "no-landmark"];

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task The_hint_holds_the_byte_ranges_the_prefetch_fetches(string layout)
    {
        using var temp = new TempDirectory("fs-hint");
        var tar = new TarBuilder().File("lib.so", SampleLayers.Pattern(1024 * 1024, 7)).File("conf", "c\n").File("big", SampleLayers.Pattern(600_000, 3))
            .File("cold", "never read\n").Build();
        var options = layout switch
        {
            "marked" => new EstargzBuildOptions
            {
                ChunkSize = Chunk, CompressionLevel = 1, PrioritizedFiles = ["lib.so", "conf", "big"],
                PrioritizedReads = new Dictionary<string, IReadOnlyList<FileRange>> { ["lib.so"] = [new FileRange(300_000, 10_000), new FileRange(900_000, 1)], ["conf"] = [new FileRange(0, 2)] },
            },
            "unmarked" => new EstargzBuildOptions { ChunkSize = Chunk, CompressionLevel = 1, PrioritizedFiles = ["lib.so", "conf"] },
            _ => new EstargzBuildOptions { ChunkSize = Chunk, CompressionLevel = 1 },
        };
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"), options);
        using var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, FetchOptions.Default);
        var members = fixture.Tree.Members;
        var end = LayerContent.PrefetchEnd(fixture.Reader, members, PrefetchOptions.Default with { SizeWithoutLandmark = 0 });

        var fetched = LayerContent.PrefetchRuns(members, end).Select(r => new BlobSpan(members.Offset(r.First), members.End(r.End - 1) - members.Offset(r.First)));
        var hint = PrefetchHint.FromToc(layer.Toc, layer.TocOffset);

        Assert.Equal(fetched, hint);
        Assert.Equal(layout == "no-landmark", hint.Count == 0);
        if (layout == "marked")
        {
            Assert.True(hint.Count > 1); // lib.so's two marked chunks are apart
        }
    }

    [Fact]
    public void A_hint_reads_back_as_it_was_written()
    {
        IReadOnlyList<BlobSpan> spans = [new BlobSpan(0, 10), new BlobSpan(10, 5), new BlobSpan(1000, 24)];
        var text = PrefetchHint.Format(spans);

        Assert.Equal("0+10,10+5,1000+24", text);
        Assert.True(PrefetchHint.TryParse(text, 1024, out var parsed));
        Assert.Equal(spans, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("10+5,0+5")] // not ascending
    [InlineData("0+10,5+10")] // overlapping
    [InlineData("1000+25")] // past the end of a 1024-byte blob
    [InlineData("0+0")] // empty
    [InlineData("-1+5")]
    [InlineData("0+5,")]
    [InlineData("0+99999999999999999999")]
    [InlineData(" 0+5")]
    public void A_hint_that_is_not_exactly_right_is_refused(string text)
    {
        Assert.False(PrefetchHint.TryParse(text, 1024, out var spans));
        Assert.Empty(spans);
    }

    [Fact]
    public void A_hint_of_more_than_the_limit_of_ranges_is_refused()
    {
        var text = PrefetchHint.Format([.. Enumerable.Range(0, PrefetchHint.MaxRanges + 1).Select(i => new BlobSpan(i * 10L, 5))]);

        Assert.False(PrefetchHint.TryParse(text, 1 << 20, out _));
    }

    [Fact]
    public async Task The_prefetch_reads_the_hinted_ranges_from_memory_and_gets_the_layer_right()
    {
        using var temp = new TempDirectory("fs-hint");
        var tar = new TarBuilder().File("lib.so", SampleLayers.Pattern(3 * 1024 * 1024, 7)).File("conf", "c\n").File("cold", SampleLayers.Pattern(500_000, 9)).Build();
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = Chunk, CompressionLevel = 1, PrioritizedFiles = ["lib.so", "conf"] });
        var blob = new ScriptedBlob(File.ReadAllBytes(layer.Path));
        var reader = await EstargzReader.OpenAsync(blob, layer.TocDigest, cancellationToken: Token);
        var hint = PrefetchHint.FromToc(layer.Toc, layer.TocOffset);
        blob.Reads.Clear();
        var fetch = FetchOptions.Default with { MaxRequestBytes = 1 << 20 };

        using var early = new EarlyPrefetchBlob(blob, hint, fetch, 64 << 20, NullLogger.Instance);
        using var content = LayerContent.Open(reader, early, LayerMountOptions.Default with { Fetch = fetch }, NullLoggerFactory.Instance);
        await content.StartPrefetch().WaitAsync(Token);

        Assert.Equal(hint.Sum(s => s.Length), early.StagedBytes);
        Assert.Equal(early.StagedBytes, early.ServedBytes);
        Assert.All(blob.Reads, read => Assert.Contains(hint, span => read.Offset >= span.Offset && read.Offset + read.Length <= span.End));
        Assert.Equal(early.StagedBytes, blob.Reads.Sum(r => (long)r.Length)); // each hinted byte fetched once, nothing else
        var lib = content.Tree.Root.FindChild("lib.so"u8)!;
        Assert.Equal(SampleLayers.Pattern(3 * 1024 * 1024, 7), await ReadAllAsync(content, lib));
        Assert.Equal(early.StagedBytes, blob.Reads.Sum(r => (long)r.Length)); // lib.so came from the prefetch
    }

    [Fact]
    public async Task Reads_wait_for_the_bytes_of_a_piece_and_take_them_as_they_arrive()
    {
        var bytes = SampleLayers.Pattern(100_000, 4);
        var blob = new ScriptedBlob(bytes) { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        using var early = new EarlyPrefetchBlob(blob, [new BlobSpan(1000, 50_000)], FetchOptions.Default, 64 << 20, NullLogger.Instance);

        var destination = new byte[20_000];
        var read = early.ReadAsync(2000, destination, Token).AsTask();
        await Task.Delay(50, Token);
        Assert.False(read.IsCompleted);
        blob.Gate.SetResult();
        await read.WaitAsync(Token);

        Assert.Equal(bytes.AsSpan(2000, 20_000).ToArray(), destination);
        Assert.Equal(20_000, early.ServedBytes);
        Assert.Single(blob.Reads); // the piece's own request only
    }

    [Fact]
    public async Task A_read_past_the_hinted_range_takes_the_rest_from_the_blob()
    {
        var bytes = SampleLayers.Pattern(100_000, 5);
        var blob = new ScriptedBlob(bytes);
        using var early = new EarlyPrefetchBlob(blob, [new BlobSpan(10_000, 10_000), new BlobSpan(40_000, 1000)], FetchOptions.Default, 64 << 20, NullLogger.Instance);
        await early.Fetching.WaitAsync(Token);
        blob.Reads.Clear();

        var destination = new byte[30_000];
        var counts = new List<int>();
        await early.ReadAsync(5_000, destination, counts.Add, Token);
        var straddling = new byte[20_000];
        await early.ReadAsync(15_000, straddling, Token);

        Assert.Equal(bytes.AsSpan(5_000, 30_000).ToArray(), destination);
        Assert.Equal(bytes.AsSpan(15_000, 20_000).ToArray(), straddling);
        Assert.Equal(30_000, counts[^1]);
        Assert.Equal([(5_000L, 30_000), (20_000L, 15_000)], blob.Reads.ToArray()); // before the range: all from the blob; inside it: only its tail
        Assert.Equal(5_000, early.ServedBytes);
    }

    [Fact]
    public async Task A_piece_whose_fetch_failed_is_read_from_the_blob()
    {
        var bytes = SampleLayers.Pattern(100_000, 6);
        var blob = new ScriptedBlob(bytes) { FailFirst = 1 };
        using var early = new EarlyPrefetchBlob(blob, [new BlobSpan(0, 50_000)], FetchOptions.Default, 64 << 20, NullLogger.Instance);
        await early.Fetching.WaitAsync(Token);

        var destination = new byte[50_000];
        await early.ReadAsync(0, destination, Token);

        Assert.Equal(bytes.AsSpan(0, 50_000).ToArray(), destination);
        Assert.Equal(0, early.ServedBytes);
        Assert.Equal(2, blob.Reads.Count);
    }

    [Fact]
    public async Task Disposing_it_sends_waiting_reads_to_the_blob()
    {
        var bytes = SampleLayers.Pattern(100_000, 8);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blob = new ScriptedBlob(bytes) { Gate = gate };
        var early = new EarlyPrefetchBlob(blob, [new BlobSpan(0, 50_000)], FetchOptions.Default, 64 << 20, NullLogger.Instance);
        var destination = new byte[10_000];
        var read = early.ReadAsync(100, destination, Token).AsTask();
        await Task.Delay(50, Token);

        blob.Gate = null; // the read the dispose sends to the blob does not wait
        early.Dispose();
        await read.WaitAsync(Token);
        await early.Fetching.WaitAsync(Token); // the piece's fetch was cancelled

        Assert.Equal(bytes.AsSpan(100, 10_000).ToArray(), destination);
        Assert.Equal(0, early.ServedBytes);
    }

    [Fact]
    public async Task A_piece_dropped_while_its_request_runs_keeps_its_buffer_until_the_request_ends()
    {
        // The buffers are pooled: one handed back while a response still writes into it would
        // corrupt whatever rents it next.
        var blob = new UnstoppableBlob();
        var early = new EarlyPrefetchBlob(blob, [new BlobSpan(0, 50_000)], FetchOptions.Default, 64 << 20, NullLogger.Instance);
        var inFlight = await blob.Started.Task.WaitAsync(Token);
        Assert.True(MemoryMarshal.TryGetArray<byte>(inFlight, out var segment));

        early.Dispose(); // on this thread: a buffer returned here would be the next one this thread rents
        var rented = Enumerable.Range(0, 8).Select(_ => ArrayPool<byte>.Shared.Rent(inFlight.Length)).ToList();
        Assert.DoesNotContain(segment.Array, rented);
        rented.ForEach(r => ArrayPool<byte>.Shared.Return(r));

        blob.Finish.SetResult();
        await early.Fetching.WaitAsync(Token);
        Assert.Equal(0, early.ServedBytes);
    }

    [Fact]
    public async Task It_fetches_no_more_than_its_budget_in_pieces_of_the_request_size()
    {
        var blob = new ScriptedBlob(new byte[1 << 20]);
        using var early = new EarlyPrefetchBlob(blob, [new BlobSpan(0, 300_000), new BlobSpan(400_000, 300_000)], FetchOptions.Default with { MaxRequestBytes = 128 * 1024 },
            500_000, NullLogger.Instance);
        await early.Fetching.WaitAsync(Token);

        Assert.Equal(500_000, early.StagedBytes);
        Assert.Equal(500_000, blob.Reads.Sum(r => (long)r.Length));
        Assert.All(blob.Reads, r => Assert.True(r.Length <= 128 * 1024));
    }

    [Fact]
    public async Task While_a_toc_is_read_it_keeps_to_one_request_and_takes_its_full_share_after()
    {
        var blob = new ScriptedBlob(new byte[1 << 20]) { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var tocReads = new TocReads();
        var tocRead = tocReads.Begin();
        using var early = new EarlyPrefetchBlob(blob, [new BlobSpan(0, 800_000)], FetchOptions.Default with { MaxRequestBytes = 100_000, PrefetchRequests = 4 },
            64 << 20, NullLogger.Instance, tocReads);

        await Task.Delay(100, Token);
        Assert.Single(blob.Reads);
        tocRead.Dispose();
        while (blob.Reads.Count < 4)
        {
            await Task.Delay(10, Token);
        }
        await Task.Delay(100, Token);
        Assert.Equal(4, blob.Reads.Count); // its requests in flight, no more
        blob.Gate.SetResult();
        await early.Fetching.WaitAsync(Token);
        Assert.Equal(8, blob.Reads.Count);
        Assert.True(tocReads.WhenNone.IsCompleted);
    }

    [Fact]
    public async Task While_a_critical_tail_is_read_it_starts_no_request_and_starts_once_the_tail_is_in()
    {
        var blob = new ScriptedBlob(new byte[1 << 20]);
        var tocReads = new TocReads();
        var critical = tocReads.BeginCritical();
        using var early = new EarlyPrefetchBlob(blob, [new BlobSpan(0, 300_000)], FetchOptions.Default with { MaxRequestBytes = 100_000, PrefetchRequests = 4 },
            64 << 20, NullLogger.Instance, tocReads);

        await Task.Delay(100, Token);
        Assert.Empty(blob.Reads);
        Assert.False(tocReads.WhenNoCritical.IsCompleted);
        critical.Dispose();
        critical.Dispose(); // ends once
        await early.Fetching.WaitAsync(Token);
        Assert.Equal(3, blob.Reads.Count);
        Assert.True(tocReads.WhenNoCritical.IsCompleted);
        using (tocReads.BeginCritical())
        {
            Assert.False(tocReads.WhenNoCritical.IsCompleted); // a new window after the last one ended
        }
        Assert.True(tocReads.WhenNoCritical.IsCompleted);
    }

    private static async Task<byte[]> ReadAllAsync(LayerContent content, Node file)
    {
        var result = new byte[file.Size];
        foreach (var chunk in file.Chunks)
        {
            await content.Chunks.CopyAsync(chunk, 0, result.AsMemory((int)chunk.FileOffset, (int)chunk.Size), file.Path, Token);
        }
        return result;
    }

    /// <summary>A blob whose one read ignores cancellation: it writes its bytes only once told to, as a response still arriving would.</summary>
    private sealed class UnstoppableBlob : IBlob
    {
        public TaskCompletionSource<Memory<byte>> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Finish { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Digest Digest { get; } = Digest.Compute([1]);

        public long Size => 100_000;

        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            Started.TrySetResult(destination);
            await Finish.Task;
            destination.Span.Fill(0xAB);
        }
    }

    /// <summary>A blob in memory that records its reads, can hold them at a gate and fail the first few.</summary>
    private sealed class ScriptedBlob(byte[] bytes) : IBlob
    {
        private int _failures;

        public ConcurrentQueue<(long Offset, int Length)> Reads { get; } = new();

        public TaskCompletionSource? Gate { get; set; }

        public int FailFirst { get; init; }

        public Digest Digest { get; } = Digest.Compute(bytes);

        public long Size => bytes.Length;

        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            Reads.Enqueue((offset, destination.Length));
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }
            if (Interlocked.Increment(ref _failures) <= FailFirst)
            {
                throw new IOException("the registry cut the body short");
            }
            bytes.AsMemory((int)offset, destination.Length).CopyTo(destination);
        }
    }
}
