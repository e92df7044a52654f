using System.Text;
using Snapshotter.Oci;

namespace Snapshotter.Oci.Tests;

public class DigestTests
{
    private const string EmptySha256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Fact]
    public void Compute_of_empty_input_is_the_well_known_value() =>
        Assert.Equal(EmptySha256, Digest.Compute([]).Value);

    [Theory]
    [InlineData("")]
    [InlineData("sha256:")]
    [InlineData("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g")]
    public void Parse_rejects_malformed_digests(string text)
    {
        Assert.False(Digest.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => Digest.Parse(text));
        Assert.Contains("invalid digest", error.Message);
    }

    [Fact]
    public void Parse_round_trips_and_splits_algorithm_and_hex()
    {
        var digest = Digest.Parse(EmptySha256);
        Assert.Equal("sha256", digest.Algorithm);
        Assert.Equal(EmptySha256[7..], digest.Hex);
        Assert.Equal(EmptySha256, digest.ToString());
    }

    [Fact]
    public void Matches_detects_a_single_flipped_bit()
    {
        var data = Encoding.ASCII.GetBytes("hello eStargz");
        var digest = Digest.Compute(data);
        Assert.True(digest.Matches(data));
        data[3] ^= 1;
        Assert.False(digest.Matches(data));
    }

    [Fact]
    public void Verifier_reports_both_digests_on_mismatch()
    {
        using var verifier = new DigestVerifier();
        verifier.Append("abc"u8);
        var expected = Digest.Compute("abd"u8);
        var error = Assert.Throws<DigestMismatchException>(() => verifier.Verify(expected, "blob x"));
        Assert.Equal(expected, error.Expected);
        Assert.Equal(Digest.Compute("abc"u8), error.Actual);
        Assert.Contains("blob x", error.Message);
    }

    [Fact]
    public async Task ComputeAsync_equals_Compute()
    {
        var data = new byte[1 << 20];
        new Random(7).NextBytes(data);
        await using var stream = new MemoryStream(data);
        Assert.Equal(Digest.Compute(data), await Digest.ComputeAsync(stream, TestContext.Current.CancellationToken));
    }
}
