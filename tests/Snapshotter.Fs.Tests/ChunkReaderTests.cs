using Snapshotter.Fs.Fetching;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Estargz;
using Snapshotter.Fuse;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>The chunk read path without FUSE: shared fetches, read-ahead, merged requests, the bounded store, verification, timeouts.</summary>
public sealed class ChunkReaderTests
{
    private static readonly FetchOptions NoReadAhead = new() { ReadAheadBytes = 0 };

    [Fact]
    public async Task Concurrent_reads_of_one_chunk_share_one_fetch_and_later_reads_hit_the_store()
    {
        using var temp = new TempDirectory("fs-chunks");
        var content = SampleLayers.Pattern(1024 * 1024, 3);
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f", content).Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 300 * 1024, NoReadAhead);
        var (blob, node, store, statistics, chunks) = fixture;
        var chunk = node.Chunks[1];

        blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var buffers = Enumerable.Range(0, 16).Select(_ => new byte[4096]).ToArray();
        var reads = buffers.Select((b, i) => chunks.CopyAsync(chunk, i * 4096, b, "f", TestContext.Current.CancellationToken).AsTask()).ToArray();
        await Task.Delay(100, TestContext.Current.CancellationToken);
        blob.Gate.SetResult();
        await Task.WhenAll(reads);

        for (var i = 0; i < buffers.Length; i++)
        {
            Assert.True(content.AsSpan((int)chunk.FileOffset + (i * 4096), 4096).SequenceEqual(buffers[i]));
        }
        Assert.Equal(1, statistics.BlobReads);
        Assert.Equal(1, statistics.ChunksDecompressed);
        Assert.True(chunks.TryCopyStored(chunk, 100, new byte[10]));
        Assert.Equal(chunk.CompressedLength, statistics.FetchedBytes);

        // The store holds at most 300 KiB: reading every chunk evicts the oldest, never exceeds the bound.
        foreach (var other in node.Chunks)
        {
            await chunks.CopyAsync(other, 0, new byte[1], "f", TestContext.Current.CancellationToken);
            Assert.True(store.Bytes <= store.CapacityBytes);
        }
        Assert.False(chunks.TryCopyStored(chunk, 0, new byte[1]));
        Assert.True(chunks.TryCopyStored(node.Chunks[^1], 0, new byte[1]));
        // Room for one chunk only: every chunk of the loop missed (chunk 1 had been evicted by chunk 0).
        Assert.Equal(1 + node.Chunks.Count, (int)statistics.ChunksDecompressed);
    }

    [Theory]
    [InlineData(EstargzFormat.Estargz)]
    [InlineData(EstargzFormat.ZstdChunked)]
    public async Task A_miss_in_a_member_that_files_share_stores_every_file_of_it_from_one_request(EstargzFormat format)
    {
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        for (var i = 0; i < 20; i++)
        {
            tar.File($"f{i}", SampleLayers.Pattern(10_000 + i, i));
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { Format = format, CompressionLevel = 1, MinChunkSize = 1 << 20 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 4 << 20, NoReadAhead);
        var files = Enumerable.Range(0, 20).Select(i => fixture.Tree.Root.FindChild(System.Text.Encoding.UTF8.GetBytes($"f{i}"))!).ToArray();
        Assert.Single(files.Select(f => f.Chunks[0].CompressedOffset).Distinct());

        var first = new byte[10_007];
        await fixture.Chunks.CopyAsync(files[7].Chunks[0], 0, first, "f7", TestContext.Current.CancellationToken);

        Assert.Equal(SampleLayers.Pattern(10_007, 7), first);
        Assert.Equal(1, fixture.Statistics.BlobReads);
        Assert.Equal(20, fixture.Statistics.ChunksDecompressed);
        for (var i = 0; i < files.Length; i++)
        {
            var buffer = new byte[10_000 + i];
            Assert.True(fixture.Chunks.TryCopyStored(files[i].Chunks[0], 0, buffer));
            Assert.Equal(SampleLayers.Pattern(10_000 + i, i), buffer);
        }
        Assert.Equal(0, fixture.Statistics.VerificationFailures);
    }

    [Fact]
    public async Task A_miss_reads_ahead_in_blob_order_so_the_next_files_are_local_without_another_round_trip()
    {
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        for (var i = 0; i < 8; i++)
        {
            tar.File($"f{i}", SampleLayers.Pattern(50_000, i));
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 4 << 20, new FetchOptions { ReadAheadBytes = 1 << 20, ReadAheadStartBytes = 0 });
        var files = Enumerable.Range(0, 8).Select(i => fixture.Tree.Root.FindChild(System.Text.Encoding.UTF8.GetBytes($"f{i}"))!).ToArray();

        await fixture.Chunks.CopyAsync(files[0].Chunks[0], 0, new byte[10], "f0", TestContext.Current.CancellationToken);
        await WaitUntilAsync(() => fixture.Statistics.IsFullyLocal);

        // One request for f0's member, one for everything after it; then every file is served locally.
        Assert.Equal(2, fixture.Statistics.BlobReads);
        for (var i = 1; i < files.Length; i++)
        {
            var buffer = new byte[50_000];
            await fixture.Chunks.CopyAsync(files[i].Chunks[0], 0, buffer, files[i].Path, TestContext.Current.CancellationToken);
            Assert.Equal(SampleLayers.Pattern(50_000, i), buffer);
        }
        Assert.Equal(2, fixture.Statistics.BlobReads);
        Assert.Equal(8, fixture.Statistics.ChunksDecompressed);
    }

    [Fact]
    public async Task Chunks_a_reader_asked_for_are_offered_to_keep_in_memory_prefetched_ones_are_not()
    {
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        for (var i = 0; i < 4; i++)
        {
            tar.File($"f{i}", SampleLayers.Pattern(50_000, i));
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        RecordingStore? store = null;
        using var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, NoReadAhead, storeOver: memory => store = new RecordingStore(memory));
        var read = fixture.Tree.Root.FindChild("f0"u8)!;

        await fixture.Chunks.CopyAsync(read.Chunks[0], 0, new byte[1], "f0", TestContext.Current.CancellationToken);
        await fixture.Chunks.FetchMembersAsync(0, fixture.Tree.Members.Count, FetchKind.Prefetch, 1, long.MaxValue, null, TestContext.Current.CancellationToken);

        Assert.Equal([read.Chunks[0].Digest], store!.Offered.Where(o => o.ReadSoon).Select(o => o.Chunk));
        Assert.Equal(3, store.Offered.Count(o => !o.ReadSoon));
        Assert.True(fixture.Store.Contains(read.Chunks[0].Digest)); // memory is that store's only tier: it keeps both
    }

    [Fact]
    public async Task Prefetched_chunks_are_worked_on_under_SCHED_IDLE_unless_a_read_waits_for_the_layer()
    {
        IdleCpuTests.RequireSysNice();
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        for (var i = 0; i < 6; i++)
        {
            tar.File($"f{i}", SampleLayers.Pattern(50_000, i));
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        var token = TestContext.Current.CancellationToken;

        // Nobody waits: a container's read of f0 at normal priority, the prefetch of the rest idle.
        RecordingStore? quiet = null;
        using (var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, NoReadAhead, storeOver: memory => quiet = new RecordingStore(memory)))
        {
            await fixture.Chunks.CopyAsync(fixture.Tree.Root.FindChild("f0"u8)!.Chunks[0], 0, new byte[1], "f0", token);
            await fixture.Chunks.FetchMembersAsync(0, fixture.Tree.Members.Count, FetchKind.Prefetch, 1, long.MaxValue, null, token);
        }
        Assert.False(quiet!.Offered.Single(o => o.ReadSoon).Idle);
        Assert.True(quiet.Offered.Count(o => !o.ReadSoon) >= 5); // f1-f5, and the landmark if the layer has one
        Assert.All(quiet.Offered.Where(o => !o.ReadSoon), o => Assert.True(o.Idle));

        // A container's read joins the prefetch's request before its bytes arrive: nothing idles.
        RecordingStore? joined = null;
        using (var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, NoReadAhead, storeOver: memory => joined = new RecordingStore(memory)))
        {
            fixture.Blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var readsBefore = fixture.Blob.Reads;
            var prefetch = fixture.Chunks.FetchMembersAsync(0, fixture.Tree.Members.Count, FetchKind.Prefetch, 1, long.MaxValue, null, token);
            await WaitUntilAsync(() => fixture.Blob.Reads > readsBefore);
            var read = fixture.Chunks.CopyAsync(fixture.Tree.Root.FindChild("f5"u8)!.Chunks[0], 0, new byte[1], "f5", token).AsTask();
            fixture.Blob.Gate.SetResult();
            await Task.WhenAll(prefetch, read);
            Assert.Equal(readsBefore + 1, fixture.Blob.Reads); // the read fetched nothing of its own
        }
        Assert.True(joined!.Offered.Count >= 6);
        Assert.All(joined.Offered, o => Assert.False(o.Idle));
        Assert.False(IdleCpu.CurrentThreadIsIdle);
    }

    [Fact]
    public async Task Prefetched_chunks_keep_normal_priority_when_idle_priority_is_off()
    {
        Requirements.Root();
        using var temp = new TempDirectory("fs-chunks");
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f", SampleLayers.Pattern(50_000, 1)).Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { CompressionLevel = 1 });
        RecordingStore? store = null;
        using var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, NoReadAhead with { IdlePriority = false }, storeOver: memory => store = new RecordingStore(memory));

        await fixture.Chunks.FetchMembersAsync(0, fixture.Tree.Members.Count, FetchKind.Prefetch, 1, long.MaxValue, null, TestContext.Current.CancellationToken);

        Assert.NotEmpty(store!.Offered);
        Assert.All(store.Offered, o => Assert.False(o.Idle));
    }

    /// <summary>Records what the reader offers, and under which policy its thread ran then, and passes it on.</summary>
    private sealed class RecordingStore(IChunkStore inner) : IChunkStore
    {
        public List<(Digest Chunk, bool ReadSoon, bool Idle)> Offered { get; } = [];

        public bool TryCopy(Digest chunk, int offset, Span<byte> destination) => inner.TryCopy(chunk, offset, destination);

        public ValueTask<bool> TryReadAsync(Digest chunk, int offset, Memory<byte> destination, CancellationToken cancellationToken) =>
            inner.TryReadAsync(chunk, offset, destination, cancellationToken);

        public bool Contains(Digest chunk) => inner.Contains(chunk);

        public ValueTask AddAsync(Digest chunk, ReadOnlyMemory<byte> data, bool readSoon, CancellationToken cancellationToken)
        {
            lock (Offered)
            {
                Offered.Add((chunk, readSoon, IdleCpu.CurrentThreadIsIdle));
            }
            return inner.AddAsync(chunk, data, readSoon, cancellationToken);
        }
    }

    [Fact]
    public async Task Fetching_members_merges_neighbours_into_bounded_requests_and_skips_what_is_local()
    {
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        for (var i = 0; i < 20; i++)
        {
            tar.File($"f{i:D2}", SampleLayers.Pattern(100_000, i));
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, NoReadAhead);
        var members = fixture.Tree.Members;
        var first = fixture.Tree.Root.FindChild("f00"u8)!;
        await fixture.Chunks.CopyAsync(first.Chunks[0], 0, new byte[1], "f00", TestContext.Current.CancellationToken);

        var fetched = await fixture.Chunks.FetchMembersAsync(0, members.Count, FetchKind.Background, 2, 512 * 1024, null, TestContext.Current.CancellationToken);

        Assert.True(fixture.Statistics.IsFullyLocal);
        Assert.Equal(members.TotalCompressedBytes - members.Length(0), fetched);
        // Each request stays within the bound (one member more at most), so 19 members of ~100 KB take several, not 19.
        var requests = fixture.Statistics.BlobReads - 1;
        Assert.InRange(requests, (int)Math.Ceiling(fetched / (512.0 * 1024)), 19 / 2);
        Assert.Equal(0, await fixture.Chunks.FetchMembersAsync(0, members.Count, FetchKind.Background, 2, 512 * 1024, null, TestContext.Current.CancellationToken));
        for (var i = 0; i < 20; i++)
        {
            var node = fixture.Tree.Root.FindChild(System.Text.Encoding.UTF8.GetBytes($"f{i:D2}"))!;
            var buffer = new byte[100_000];
            Assert.True(fixture.Chunks.TryCopyStored(node.Chunks[0], 0, buffer));
            Assert.Equal(SampleLayers.Pattern(100_000, i), buffer);
        }
    }

    [Fact]
    public async Task A_member_at_the_front_of_a_request_is_served_before_the_rest_of_the_body_arrives()
    {
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        for (var i = 0; i < 4; i++)
        {
            tar.File($"f{i}", SampleLayers.Pattern(100_000, i));
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"));
        using var fixture = await ReaderFixture.OpenAsync(layer, 4 * 1024 * 1024, NoReadAhead);
        var members = fixture.Tree.Members;
        var first = fixture.Tree.Root.FindChild("f0"u8)!.Chunks[0];
        var last = fixture.Tree.Root.FindChild("f3"u8)!.Chunks[0];
        var firstMember = members.IndexOf(first.CompressedOffset);
        fixture.Blob.HeadBytes = (int)(members.End(firstMember) - members.Offset(0));
        fixture.Blob.TailGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var prefetch = fixture.Chunks.FetchMembersAsync(0, members.Count, FetchKind.Prefetch, 1, long.MaxValue, null, TestContext.Current.CancellationToken);
        var buffer = new byte[100_000];
        await fixture.Chunks.CopyAsync(first, 0, buffer, "f0", TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(SampleLayers.Pattern(100_000, 0), buffer);
        Assert.False(prefetch.IsCompleted);
        Assert.False(fixture.Chunks.TryCopyStored(last, 0, new byte[1]));

        fixture.Blob.TailGate.SetResult();
        Assert.Equal(members.TotalCompressedBytes, await prefetch);
        Assert.True(fixture.Chunks.TryCopyStored(last, 0, buffer));
        Assert.Equal(SampleLayers.Pattern(100_000, 3), buffer);
        Assert.Equal(1, fixture.Statistics.BlobReads);
    }

    [Fact]
    public async Task A_body_cut_after_its_first_members_keeps_them_and_fails_only_the_rest()
    {
        using var temp = new TempDirectory("fs-chunks");
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f0", SampleLayers.Pattern(100_000, 0)).File("f1", SampleLayers.Pattern(100_000, 1)).Build(), temp.Combine("layer.esgz"));
        using var fixture = await ReaderFixture.OpenAsync(layer, 4 * 1024 * 1024, NoReadAhead);
        var members = fixture.Tree.Members;
        var first = fixture.Tree.Root.FindChild("f0"u8)!.Chunks[0];
        var second = fixture.Tree.Root.FindChild("f1"u8)!.Chunks[0];
        fixture.Blob.HeadBytes = (int)(members.End(members.IndexOf(first.CompressedOffset)) - members.Offset(0));
        fixture.Blob.TailGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var prefetch = fixture.Chunks.FetchMembersAsync(0, members.Count, FetchKind.Prefetch, 1, long.MaxValue, null, TestContext.Current.CancellationToken);
        await ChunkReaderTests.WaitUntilAsync(() => fixture.Chunks.TryCopyStored(first, 0, new byte[1]));
        var waiting = fixture.Chunks.CopyAsync(second, 0, new byte[10], "f1", TestContext.Current.CancellationToken).AsTask();
        fixture.Blob.TailGate.SetException(new IOException("connection reset"));

        Assert.Equal(0, await prefetch); // a failed request counts no bytes
        Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<FuseException>(() => waiting)).Errno);
        Assert.Equal(1, fixture.Statistics.ReadFailures);
        Assert.True(fixture.Chunks.TryCopyStored(first, 0, new byte[1]));
        fixture.Blob.TailGate = null;
        var buffer = new byte[100_000];
        await fixture.Chunks.CopyAsync(second, 0, buffer, "f1", TestContext.Current.CancellationToken);
        Assert.Equal(SampleLayers.Pattern(100_000, 1), buffer);
    }

    [Fact]
    public async Task A_failed_verification_fails_every_waiter_and_is_counted_once()
    {
        using var temp = new TempDirectory("fs-chunks");
        var valid = await TestLayers.BuildAsync(new TarBuilder().File("f", SampleLayers.Pattern(100_000, 4)).Build(), temp.Combine("layer.esgz"));
        var bad = TestLayers.EditToc(valid, toc => toc.Entries.Single(e => e.Name == "f").ChunkDigest = Digest.Compute("other"u8).Value, temp.Combine("bad.esgz"));
        using var fixture = await ReaderFixture.OpenAsync(bad, 1024 * 1024, FetchOptions.Default);
        var chunk = fixture.File.Chunks[0];

        fixture.Blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reads = Enumerable.Range(0, 4).Select(_ => fixture.Chunks.CopyAsync(chunk, 0, new byte[10], "f", TestContext.Current.CancellationToken).AsTask()).ToArray();
        fixture.Blob.Gate.SetResult();

        foreach (var read in reads)
        {
            var error = await Assert.ThrowsAsync<FuseException>(() => read);
            Assert.Equal(Errno.EIO, error.Errno);
        }
        Assert.Equal(1, fixture.Statistics.VerificationFailures);
        Assert.False(fixture.Chunks.TryCopyStored(chunk, 0, new byte[1]));
        Assert.False(fixture.Statistics.IsFullyLocal);
    }

    [Fact]
    public async Task A_fetch_that_outlives_the_timeout_fails_with_EIO_and_the_next_read_fetches_again()
    {
        using var temp = new TempDirectory("fs-chunks");
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f", SampleLayers.Pattern(10_000, 4)).Build(), temp.Combine("layer.esgz"));
        using var fixture = await ReaderFixture.OpenAsync(layer, 1024 * 1024, FetchOptions.Default with { Timeout = TimeSpan.FromSeconds(2) });
        var chunk = fixture.File.Chunks[0];

        fixture.Blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var error = await Assert.ThrowsAsync<FuseException>(() => fixture.Chunks.CopyAsync(chunk, 0, new byte[10], "f", TestContext.Current.CancellationToken).AsTask());
        Assert.Equal(Errno.EIO, error.Errno);
        Assert.Equal(1, fixture.Statistics.ReadFailures);

        fixture.Blob.Gate.SetResult();
        var buffer = new byte[10_000];
        await fixture.Chunks.CopyAsync(chunk, 0, buffer, "f", TestContext.Current.CancellationToken);
        Assert.Equal(SampleLayers.Pattern(10_000, 4), buffer);
    }

    [Fact]
    public async Task Read_ahead_shrinks_while_misses_land_far_apart_and_grows_when_they_land_close()
    {
        using var temp = new TempDirectory("fs-chunks");
        var tar = new TarBuilder();
        const int Files = 64;
        for (var i = 0; i < Files; i++)
        {
            // Incompressible: each member is ~64 KiB of the blob, so distances in files are distances in bytes.
            var content = new byte[64 * 1024];
            new Random(i).NextBytes(content);
            tar.File($"f{i}", content);
        }
        var layer = await TestLayers.BuildAsync(tar.Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        using var fixture = await ReaderFixture.OpenAsync(layer, 64 << 20, new FetchOptions { ReadAheadBytes = 1 << 20, ReadAheadStartBytes = 256 * 1024 });
        var files = Enumerable.Range(0, Files).Select(i => fixture.Tree.Root.FindChild(System.Text.Encoding.UTF8.GetBytes($"f{i}"))!).ToArray();
        Assert.True(fixture.Tree.Members.TotalCompressedBytes > Files * 64 * 1024); // files 20 apart are more than 1 MiB apart
        Assert.Equal(256 * 1024, fixture.Chunks.ReadAheadBytes);

        async Task ReadAsync(int file)
        {
            await fixture.Chunks.CopyAsync(files[file].Chunks[0], 0, new byte[100], files[file].Path, TestContext.Current.CancellationToken);
            // Its read-ahead done (it counts from the miss on): at most 4 run at once, and a miss beyond that sends none.
            await WaitUntilAsync(() => fixture.Chunks.ReadAheadsInFlight == 0);
        }

        // A web server's start: a few reads spread over the layer, none of what read-ahead brought.
        foreach (var file in new[] { 0, 20, 40, 60 })
        {
            await ReadAsync(file);
        }
        Assert.Equal(ReadAheadWindow.MinimumBytes, fixture.Chunks.ReadAheadBytes);

        // An interpreter's start: misses 4 files apart (beyond the small window, within the largest); 44 is also close to 40.
        foreach (var file in new[] { 44, 48, 52 })
        {
            await ReadAsync(file);
        }
        Assert.Equal(512 * 1024, fixture.Chunks.ReadAheadBytes);
        // And reads of what read-ahead brought: up to the largest window, and counted as read-ahead that paid.
        long used = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FsMetrics.MeterName && instrument.Name == "read_ahead_used_bytes")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "layer" && (string?)tag.Value == layer.BlobDigest.ToString())
                {
                    Interlocked.Add(ref used, value);
                }
            }
        });
        listener.Start();
        await ReadAsync(53);
        await ReadAsync(54);
        Assert.Equal(1 << 20, fixture.Chunks.ReadAheadBytes);
        var members = fixture.Chunks.Members;
        Assert.Equal(new[] { 53, 54 }.Sum(i => members.Length(members.IndexOf(files[i].Chunks[0].CompressedOffset))), Interlocked.Read(ref used));
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30 s");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>A layer opened through a <see cref="GatedBlob"/> with a memory store and a chunk reader; "f" is its file of that name, if any.</summary>
internal sealed record ReaderFixture(GatedBlob Blob, Node File, MemoryChunkStore Store, LayerStatistics Statistics, ChunkReader Chunks, LayerTree Tree, EstargzReader Reader) : IDisposable
{
    /// <param name="storeOver">What the chunk reader goes through instead of the memory store (a wrapper of it); null: the store itself.</param>
    public static async Task<ReaderFixture> OpenAsync(EstargzFile layer, long storeBytes, FetchOptions options, FetchGate? gate = null,
        Func<MemoryChunkStore, IChunkStore>? storeOver = null)
    {
        var blob = new GatedBlob(await System.IO.File.ReadAllBytesAsync(layer.Path, TestContext.Current.CancellationToken), layer.BlobDigest);
        var reader = await EstargzReader.OpenAsync(blob, layer.TocDigest, cancellationToken: TestContext.Current.CancellationToken);
        var tree = LayerTree.Build(reader);
        var statistics = new LayerStatistics(tree.Members.TotalCompressedBytes);
        var store = new MemoryChunkStore(storeBytes);
        var chunks = new ChunkReader(reader, blob, storeOver?.Invoke(store) ?? store, tree.Members, statistics, options, gate ?? new FetchGate(), NullLogger.Instance);
        return new ReaderFixture(blob, tree.Root.FindChild("f"u8)!, store, statistics, chunks, tree, reader);
    }

    public void Deconstruct(out GatedBlob blob, out Node file, out MemoryChunkStore store, out LayerStatistics statistics, out ChunkReader chunks)
    {
        (blob, file, store, statistics, chunks) = (Blob, File, Store, Statistics, Chunks);
    }

    public void Dispose() => Store.Dispose();
}

/// <summary>A blob in memory whose reads wait for <see cref="Gate"/>, so concurrent readers overlap; counts reads.</summary>
internal sealed class GatedBlob(byte[] bytes, Digest digest) : IBlob
{
    private int _reads;
    private long _longestRead;

    public TaskCompletionSource? Gate { get; set; }

    public int Reads => Volatile.Read(ref _reads);

    /// <summary>Bytes of the largest read so far (the largest Range request).</summary>
    public long LongestRead => Interlocked.Read(ref _longestRead);

    /// <summary>Forgets the reads so far for <see cref="LongestRead"/> (opening the layer reads its TOC).</summary>
    public void ResetLongestRead() => Interlocked.Exchange(ref _longestRead, 0);

    public Digest Digest => digest;

    public long Size => bytes.Length;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        long longest;
        while ((longest = Interlocked.Read(ref _longestRead)) < destination.Length
            && Interlocked.CompareExchange(ref _longestRead, destination.Length, longest) != longest)
        {
        }
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }
        bytes.AsMemory((int)offset, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// When set, a read of more than <see cref="HeadBytes"/> delivers (and reports) that many bytes at
    /// once, then waits for this gate; a gate that faults cuts the body there.
    /// </summary>
    public TaskCompletionSource? TailGate { get; set; }

    public int HeadBytes { get; set; }

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, Action<int> filled, CancellationToken cancellationToken)
    {
        if (TailGate is not { } tail || destination.Length <= HeadBytes)
        {
            await ReadAsync(offset, destination, cancellationToken);
            filled(destination.Length);
            return;
        }
        Interlocked.Increment(ref _reads);
        bytes.AsMemory((int)offset, HeadBytes).CopyTo(destination);
        filled(HeadBytes);
        await tail.Task.WaitAsync(cancellationToken);
        bytes.AsMemory((int)offset + HeadBytes, destination.Length - HeadBytes).CopyTo(destination[HeadBytes..]);
        filled(destination.Length);
    }
}
