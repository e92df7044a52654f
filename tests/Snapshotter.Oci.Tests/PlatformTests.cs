using System.Runtime.InteropServices;
using Snapshotter.Oci;

namespace Snapshotter.Oci.Tests;

public class PlatformTests
{
    [Theory]
    [InlineData("linux/x86_64", "linux/amd64")]
    [InlineData("linux/x86-64", "linux/amd64")]
    [InlineData("linux/amd64/v1", "linux/amd64")]
    [InlineData("Linux/AMD64", "linux/amd64")]
    [InlineData("linux/aarch64", "linux/arm64")]
    [InlineData("linux/arm64/v8", "linux/arm64")]
    [InlineData("linux/aarch64/8", "linux/arm64")]
    [InlineData("linux/armhf", "linux/arm/v7")]
    [InlineData("linux/armel", "linux/arm/v6")]
    [InlineData("linux/arm", "linux/arm/v7")]
    [InlineData("linux/arm/6", "linux/arm/v6")]
    [InlineData("linux/i386", "linux/386")]
    [InlineData("macos/arm64", "darwin/arm64")]
    [InlineData("linux/s390x", "linux/s390x")]
    public void Parse_normalises(string text, string expected) =>
        Assert.Equal(expected, Platform.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("linux/")]
    [InlineData("a/b/c/d")]
    public void Parse_rejects_malformed(string text) =>
        Assert.Throws<FormatException>(() => Platform.Parse(text));

    [Fact]
    public void Default_is_this_machine()
    {
        var expected = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            var other => other.ToString().ToLowerInvariant(),
        };
        Assert.Equal("linux", Platform.Default.Os);
        Assert.Equal(expected, Platform.Default.Architecture);
    }

    [Theory]
    [InlineData("linux/amd64", "linux/x86_64", true)]
    [InlineData("linux/arm64", "linux/aarch64/v8", true)]
    [InlineData("linux/arm/v7", "linux/arm/v6", true)]
    [InlineData("linux/arm/v6", "linux/arm/v7", false)]
    [InlineData("linux/arm64", "linux/arm/v7", true)]
    [InlineData("linux/amd64", "linux/arm64", false)]
    [InlineData("linux/amd64", "windows/amd64", false)]
    [InlineData("linux/amd64/v3", "linux/amd64", true)]
    [InlineData("linux/amd64", "linux/amd64/v3", false)]
    public void Matches_accepts_compatible_platforms_only(string host, string image, bool expected) =>
        Assert.Equal(expected, Platform.Parse(host).Matches(Platform.Parse(image)));

    [Fact]
    public void Exact_variant_beats_a_compatible_one()
    {
        var host = Platform.Parse("linux/arm/v7");
        Assert.True(host.MatchScore(Platform.Parse("linux/arm/v7")) > host.MatchScore(Platform.Parse("linux/arm/v6")));
        var arm64 = Platform.Parse("linux/arm64");
        Assert.True(arm64.MatchScore(Platform.Parse("linux/arm64")) > arm64.MatchScore(Platform.Parse("linux/arm/v7")));
    }
}
