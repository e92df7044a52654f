using Snapshotter.Daemon.Remote;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Snapshotter.Daemon.Tests;

public sealed class TailOptionsTests
{
    private static Descriptor Layer(Dictionary<string, string>? annotations) => new()
    {
        MediaType = MediaTypes.OciLayerGzip,
        Digest = Digest.Compute("layer"u8),
        Size = 1_000_000,
        Annotations = annotations,
    };

    [Fact]
    public void A_layer_that_says_where_its_toc_begins_is_opened_with_exactly_its_tail()
    {
        var options = EstargzRemoteFileSystem.TailOptions(Layer(new() { [TocOffsetHint.Annotation] = "646032" }));
        Assert.Equal(EstargzReaderOptions.Default.FirstReadFrom(646_032, 1_000_000), options);
        Assert.NotEqual(EstargzReaderOptions.Default.TailReadSize, options.TailReadSize);
    }

    [Fact]
    public void Without_it_or_with_a_value_outside_the_blob_the_guess_stays()
    {
        Assert.Same(EstargzReaderOptions.Default, EstargzRemoteFileSystem.TailOptions(Layer(null)));
        Assert.Same(EstargzReaderOptions.Default, EstargzRemoteFileSystem.TailOptions(Layer(new() { [TocOffsetHint.Annotation] = "1000000" })));
    }

    [Fact]
    public void Labels_with_the_blob_size_describe_the_layer_without_its_manifest()
    {
        var layer = Digest.Compute("layer"u8);
        Assert.Null(HintedDescriptor.FromLabels(new Dictionary<string, string> { [TocOffsetHint.Annotation] = "646032" }, layer));
        Assert.Null(HintedDescriptor.FromLabels(new Dictionary<string, string> { [TocOffsetHint.SizeAnnotation] = "-1" }, layer));

        var described = HintedDescriptor.FromLabels(new Dictionary<string, string>
        {
            [TocOffsetHint.SizeAnnotation] = "1000000",
            [TocOffsetHint.Annotation] = "646032",
            [PrefetchHint.Annotation] = "0+5000",
            ["containerd.io/snapshot.ref"] = "sha256:chain",
        }, layer)!;
        Assert.Equal((layer, 1_000_000L), (described.Digest, described.Size));
        Assert.Equal(EstargzReaderOptions.Default.FirstReadFrom(646_032, 1_000_000), EstargzRemoteFileSystem.TailOptions(described));
        Assert.Equal("0+5000", described.Annotation(PrefetchHint.Annotation));
        Assert.Null(described.Annotation("containerd.io/snapshot.ref"));
    }
}
