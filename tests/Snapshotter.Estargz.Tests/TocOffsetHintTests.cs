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
}
