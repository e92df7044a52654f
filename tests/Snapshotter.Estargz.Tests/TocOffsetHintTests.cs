namespace Snapshotter.Estargz.Tests;

public sealed class TocOffsetHintTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A first read far too small for the TOC: without the hint, opening takes two reads.</summary>
    private static readonly EstargzReaderOptions Guess = new() { TailReadSize = 16 };

    [Theory]
    [InlineData(EstargzFormat.Estargz)]
    [InlineData(EstargzFormat.ZstdChunked)]
    public async Task The_built_offset_opens_the_layer_with_one_read_of_its_tail(EstargzFormat format)
    {
        var (blob, result, reader) = await Build.AndOpenAsync(Build.Sample.Build(), Build.SmallChunks with { Format = format, CompressionLevel = 3 });
        Assert.Equal(reader.TocOffset, result.TocOffset);
        var source = new CountingBlobSource(blob);

        var options = TocOffsetHint.ReaderOptions(TocOffsetHint.Format(result.TocOffset), blob.Length, Guess);
        await EstargzReader.OpenAsync(source, result.TocDigest, options, Ct);

        var (offset, length) = Assert.Single(source.Reads);
        Assert.Equal(blob.Length, offset + length);
        Assert.Equal(result.TocOffset, offset); // exactly the tail
    }

    [Fact]
    public async Task A_wrong_offset_costs_a_second_read_not_the_layer()
    {
        var (blob, result, _) = await Build.AndOpenAsync(Build.Sample.Build());
        var source = new CountingBlobSource(blob);

        var late = TocOffsetHint.ReaderOptions(TocOffsetHint.Format(blob.Length - 100), blob.Length, Guess);
        var reader = await EstargzReader.OpenAsync(source, result.TocDigest, late, Ct);

        Assert.Equal(2, source.Reads.Count);
        Assert.Equal(result.TocDigest, reader.TocDigest);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("+5")]
    [InlineData(" 5")]
    [InlineData("5.0")]
    [InlineData("0")]
    [InlineData("1000")] // the blob's size: no tail left
    [InlineData("2000")]
    [InlineData("99999999999999999999")]
    public void Values_that_do_not_fit_the_blob_are_ignored(string? value)
    {
        Assert.Same(Guess, TocOffsetHint.ReaderOptions(value, 1000, Guess));
    }

    [Fact]
    public void A_tail_larger_than_the_largest_toc_is_ignored()
    {
        var limited = Guess with { MaxTocSize = 100 };
        Assert.Same(limited, TocOffsetHint.ReaderOptions("899", 1000, limited));
        Assert.NotSame(limited, TocOffsetHint.ReaderOptions("900", 1000, limited));
    }

    [Theory]
    [InlineData("51280210", 51_280_210L)]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("0", null)]
    [InlineData("-1", null)]
    [InlineData(" 12", null)]
    [InlineData("1e6", null)]
    [InlineData("99999999999999999999", null)]
    public void The_blob_size_annotation_is_a_plain_positive_decimal(string? value, long? size)
    {
        Assert.Equal(size, TocOffsetHint.ParseSize(value));
    }

    [Fact]
    public void The_hints_are_passed_by_containerd_to_the_snapshotter()
    {
        // containerd's unpacker copies a layer's annotations with this prefix into its Prepare labels.
        Assert.All([TocOffsetHint.Annotation, TocOffsetHint.SizeAnnotation, PrefetchHint.Annotation],
            key => Assert.StartsWith("containerd.io/snapshot/", key, StringComparison.Ordinal));
    }

    [Fact]
    public void The_longest_prefetch_hint_fits_a_containerd_label_and_keeps_its_front()
    {
        var spans = Enumerable.Range(0, PrefetchHint.MaxRanges).Select(i => new BlobSpan(10_000_000_000L + (i * 1_000_000_000L), 999_999_999)).ToList();
        var text = PrefetchHint.Format(spans);
        Assert.True(PrefetchHint.Annotation.Length + text.Length <= 4096);
        Assert.True(PrefetchHint.TryParse(text, long.MaxValue, out var parsed));
        Assert.Equal(spans.Take(parsed.Count), parsed);
        Assert.InRange(parsed.Count, 100, PrefetchHint.MaxRanges - 1);
    }
}
