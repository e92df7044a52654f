using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>The chunk read path without FUSE: shared fetches, the bounded store, verification.</summary>
public sealed class ChunkReaderTests
{
    [Fact]
    public async Task Concurrent_reads_of_one_chunk_share_one_fetch_and_later_reads_hit_the_store()
    {
        using var temp = new TempDirectory("fs-chunks");
        var content = SampleLayers.Pattern(1024 * 1024, 3);
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f", content).Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1 });
        var (blob, node, store, statistics, chunks) = await OpenAsync(layer, 300 * 1024);
        using var disposeStore = store;
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

    [Fact]
    public async Task A_prefetched_chunk_is_served_from_the_store_without_a_second_fetch()
    {
        using var temp = new TempDirectory("fs-chunks");
        var content = SampleLayers.Pattern(600_000, 5);
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("f", content).Build(), temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1 });
        var (_, node, store, statistics, chunks) = await OpenAsync(layer, 1024 * 1024);
        using var disposeStore = store;
        var chunk = node.Chunks[2];

        chunks.Prefetch(chunk, "f");
        chunks.Prefetch(chunk, "f");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!chunks.TryCopyStored(chunk, 0, []) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        var buffer = new byte[1000];
        await chunks.CopyAsync(chunk, 5, buffer, "f", TestContext.Current.CancellationToken);

        Assert.True(content.AsSpan((int)chunk.FileOffset + 5, buffer.Length).SequenceEqual(buffer));
        Assert.Equal(1, statistics.BlobReads);
        Assert.Equal(1, statistics.ChunksDecompressed);
    }

    [Fact]
    public async Task A_failed_verification_fails_every_waiter_and_is_counted_once()
    {
        using var temp = new TempDirectory("fs-chunks");
        var valid = await TestLayers.BuildAsync(new TarBuilder().File("f", SampleLayers.Pattern(100_000, 4)).Build(), temp.Combine("layer.esgz"));
        var bad = TestLayers.EditToc(valid, toc => toc.Entries.Single(e => e.Name == "f").ChunkDigest = Digest.Compute("other"u8).Value, temp.Combine("bad.esgz"));
        var (blob, node, store, statistics, chunks) = await OpenAsync(bad, 1024 * 1024);
        using var disposeStore = store;
        var chunk = node.Chunks[0];

        blob.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reads = Enumerable.Range(0, 4).Select(_ => chunks.CopyAsync(chunk, 0, new byte[10], "f", TestContext.Current.CancellationToken).AsTask()).ToArray();
        blob.Gate.SetResult();

        foreach (var read in reads)
        {
            var error = await Assert.ThrowsAsync<Fuse.FuseException>(() => read);
            Assert.Equal(Fuse.Errno.EIO, error.Errno);
        }
        Assert.Equal(1, statistics.VerificationFailures);
        Assert.False(chunks.TryCopyStored(chunk, 0, new byte[1]));
    }

    /// <summary>Opens <paramref name="layer"/> through a <see cref="GatedBlob"/> and a chunk reader over file "f".</summary>
    private static async Task<(GatedBlob Blob, Node File, MemoryChunkStore Store, LayerStatistics Statistics, ChunkReader Chunks)> OpenAsync(EstargzFile layer, long storeBytes)
    {
        var blob = new GatedBlob(await File.ReadAllBytesAsync(layer.Path, TestContext.Current.CancellationToken), layer.BlobDigest);
        var reader = await EstargzReader.OpenAsync(blob, layer.TocDigest, cancellationToken: TestContext.Current.CancellationToken);
        var tree = LayerTree.Build(reader);
        var statistics = new LayerStatistics();
        var store = new MemoryChunkStore(storeBytes);
        return (blob, tree.Root.FindChild("f"u8)!, store, statistics, new ChunkReader(reader, blob, store, tree.MemberOffsets, statistics, NullLogger.Instance));
    }

    /// <summary>A blob in memory whose reads wait for <see cref="Gate"/>, so concurrent readers overlap.</summary>
    private sealed class GatedBlob(byte[] bytes, Digest digest) : IBlob
    {
        public TaskCompletionSource? Gate { get; set; }

        public Digest Digest => digest;

        public long Size => bytes.Length;

        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }
            bytes.AsMemory((int)offset, destination.Length).CopyTo(destination);
        }
    }
}
