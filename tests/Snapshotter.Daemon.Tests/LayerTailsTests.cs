using Snapshotter.Daemon.Remote;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>The kept footer and TOC of mounted layers: written and read back, refused when damaged, served without the registry.</summary>
public sealed class LayerTailsTests
{
    private static readonly Digest Layer = Digest.Parse("sha256:" + new string('a', 64));

    [Fact]
    public void A_saved_tail_reads_back_and_a_damaged_one_is_refused_and_deleted()
    {
        using var directory = new TempDirectory("layer-tails");
        var tails = new LayerTails(directory.Combine("layers"));
        Assert.Null(tails.TryLoad(Layer));

        var tail = new RecordedTail(1000, [(900L, Enumerable.Range(0, 100).Select(i => (byte)i).ToArray()), (10L, new byte[] { 1, 2, 3 })]);
        tails.Save(Layer, tail);
        var loaded = tails.TryLoad(Layer);
        Assert.NotNull(loaded);
        Assert.Equal(1000, loaded.Size);
        Assert.Equal(tail.Ranges.Select(r => (r.Offset, Convert.ToHexString(r.Bytes))), loaded.Ranges.Select(r => (r.Offset, Convert.ToHexString(r.Bytes))));

        var path = Directory.GetFiles(directory.Combine("layers")).Single();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^1]); // cut short
        Assert.Null(tails.TryLoad(Layer));
        Assert.False(File.Exists(path));

        bytes.AsSpan(8, 8).Fill(0xff); // a negative size
        File.WriteAllBytes(path, bytes);
        Assert.Null(tails.TryLoad(Layer));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task Recorded_ranges_are_served_without_the_blob_and_others_are_read_and_recorded_until_sealed()
    {
        var blob = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        var source = new CountingSource(blob);
        var recorded = new RecordedTail(blob.Length, [(900L, blob[900..])]);
        var opening = new TailRecordingBlob(source, recorded);

        var inside = new byte[50];
        await opening.ReadAsync(920, inside, TestContext.Current.CancellationToken);
        Assert.Equal(blob[920..970], inside);
        Assert.Equal(0, source.Reads);

        var outside = new byte[20];
        await opening.ReadAsync(100, outside, TestContext.Current.CancellationToken);
        Assert.Equal(blob[100..120], outside);
        Assert.Equal(1, source.Reads);

        var sealedTail = opening.Seal();
        await opening.ReadAsync(300, new byte[10], TestContext.Current.CancellationToken);
        Assert.Equal([920L, 100L], sealedTail.Ranges.Select(r => r.Offset));
        Assert.Equal(1000, sealedTail.Size);
    }

    private sealed class CountingSource(byte[] bytes) : IBlobSource
    {
        public int Reads { get; private set; }

        public long Size => bytes.Length;

        public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            Reads++;
            bytes.AsMemory((int)offset, destination.Length).CopyTo(destination);
            return ValueTask.CompletedTask;
        }
    }
}
