using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Daemon.Remote;
using Snapshotter.Estargz;
using Snapshotter.Fs;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Daemon.Tests;

/// <summary>What a layer's blob fetches before its TOC is read, from the descriptor's annotations alone.</summary>
public sealed class EarlyPrefetchStartTests
{
    private const long BlobSize = 40_000;

    [Fact]
    public async Task A_small_layer_whose_descriptor_gives_its_toc_offset_fetches_all_its_file_data_at_once()
    {
        var ranges = new RecordingBlob(BlobSize);
        using var early = Assert.IsType<EarlyPrefetchBlob>(Start(ranges, new() { [TocOffsetHint.Annotation] = "30000" }, LayerMountOptions.Default));
        Assert.Equal(30_000, early.StagedBytes);
        var requested = await ranges.FirstRequest.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(0, requested.Offset);
    }

    [Fact]
    public void No_early_fetch_for_a_layer_above_the_bound_one_without_annotations_or_a_toc_offset_outside_the_blob()
    {
        var tocAt30000 = new Dictionary<string, string> { [TocOffsetHint.Annotation] = "30000" };
        var boundBelowIt = LayerMountOptions.Default with { Prefetch = PrefetchOptions.Default with { WholeLayerMaxBytes = 29_999 } };
        Assert.IsType<RegistryLayerBlob>(Start(new RecordingBlob(BlobSize), tocAt30000, boundBelowIt));
        Assert.IsType<RegistryLayerBlob>(Start(new RecordingBlob(BlobSize), [], LayerMountOptions.Default));
        // Past the end of the 40,000-byte blob: not a TOC offset, whatever the bound.
        Assert.IsType<RegistryLayerBlob>(Start(new RecordingBlob(BlobSize), new() { [TocOffsetHint.Annotation] = "50000" }, LayerMountOptions.Default));
    }

    [Fact]
    public void A_small_layer_fetches_all_its_file_data_early_hint_or_not_and_a_larger_one_what_its_hint_says()
    {
        var annotations = new Dictionary<string, string> { [TocOffsetHint.Annotation] = "30000", [PrefetchHint.Annotation] = "0+5000" };
        using (var small = Assert.IsType<EarlyPrefetchBlob>(Start(new RecordingBlob(BlobSize), annotations, LayerMountOptions.Default)))
        {
            Assert.Equal(30_000, small.StagedBytes);
        }
        var larger = LayerMountOptions.Default with { Prefetch = PrefetchOptions.Default with { WholeLayerMaxBytes = 29_999 } };
        using var hinted = Assert.IsType<EarlyPrefetchBlob>(Start(new RecordingBlob(BlobSize), annotations, larger));
        Assert.Equal(5_000, hinted.StagedBytes);
    }

    private static IBlob Start(RecordingBlob blob, Dictionary<string, string> annotations, LayerMountOptions options) =>
        EarlyPrefetch.Start(new RegistryLayerBlob(blob), Layer(annotations), options, new TocReads(), NullLogger.Instance);

    private static Descriptor Layer(Dictionary<string, string> annotations) => new()
    {
        MediaType = MediaTypes.OciLayerGzip,
        Digest = Digest.Compute("layer"u8),
        Size = BlobSize,
        Annotations = annotations,
    };

    /// <summary>A blob that records the first range asked of it and never answers.</summary>
    private sealed class RecordingBlob(long size) : IRangedBlob
    {
        private readonly TaskCompletionSource<BlobRange> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<BlobRange> FirstRequest => _first.Task;

        public Digest Digest => Digest.Compute("layer"u8);

        public long Size => size;

        public Task ReadAsync(IReadOnlyList<BlobRange> ranges, CancellationToken cancellationToken = default) => ReadAsync(ranges, null, cancellationToken);

        public Task ReadAsync(IReadOnlyList<BlobRange> ranges, Action<BlobRange, int>? filled, CancellationToken cancellationToken = default)
        {
            _first.TrySetResult(ranges[0]);
            return Task.Delay(Timeout.Infinite, cancellationToken);
        }

        public Task CheckAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}
