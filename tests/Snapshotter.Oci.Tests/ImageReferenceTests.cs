using Snapshotter.Oci;

namespace Snapshotter.Oci.Tests;

public class ImageReferenceTests
{
    private const string SomeDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Theory]
    [InlineData("ubuntu", "docker.io", "library/ubuntu", "latest", "docker.io/library/ubuntu:latest")]
    [InlineData("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "docker.io/library/ubuntu:22.04")]
    [InlineData("docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "docker.io/library/ubuntu:latest")]
    [InlineData("index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", "latest", "docker.io/library/ubuntu:latest")]
    [InlineData("stargz/hello", "docker.io", "stargz/hello", "latest", "docker.io/stargz/hello:latest")]
    [InlineData("localhost:5000/x", "localhost:5000", "x", "latest", "localhost:5000/x:latest")]
    [InlineData("localhost/x:1", "localhost", "x", "1", "localhost/x:1")]
    [InlineData("127.0.0.1:5000/a/b/c:v1.2-rc_3", "127.0.0.1:5000", "a/b/c", "v1.2-rc_3", "127.0.0.1:5000/a/b/c:v1.2-rc_3")]
    [InlineData("ghcr.io/stargz-containers/python:3.10-esgz", "ghcr.io", "stargz-containers/python", "3.10-esgz", "ghcr.io/stargz-containers/python:3.10-esgz")]
    [InlineData("[::1]:5000/x", "[::1]:5000", "x", "latest", "[::1]:5000/x:latest")]
    [InlineData("a__b/c.d/e--f", "docker.io", "a__b/c.d/e--f", "latest", "docker.io/a__b/c.d/e--f:latest")]
    public void Parse_normalises_like_docker(string text, string registry, string repository, string tag, string canonical)
    {
        var reference = ImageReference.Parse(text);
        Assert.Equal(registry, reference.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
        Assert.Null(reference.Digest);
        Assert.Equal(canonical, reference.ToString());
        Assert.Equal(reference, ImageReference.Parse(canonical));
    }

    [Fact]
    public void A_digest_reference_has_no_default_tag_and_manifest_reference_is_the_digest()
    {
        var reference = ImageReference.Parse("localhost:5000/x@" + SomeDigest);
        Assert.Null(reference.Tag);
        Assert.Equal(SomeDigest, reference.Digest!.Value.Value);
        Assert.Equal(SomeDigest, reference.ManifestReference);
        Assert.Equal("localhost:5000/x@" + SomeDigest, reference.ToString());
    }

    [Fact]
    public void Tag_and_digest_may_both_be_given_and_the_digest_wins()
    {
        var reference = ImageReference.Parse("busybox:1.36@" + SomeDigest);
        Assert.Equal("1.36", reference.Tag);
        Assert.Equal(SomeDigest, reference.ManifestReference);
        Assert.Equal("docker.io/library/busybox:1.36@" + SomeDigest, reference.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Ubuntu", "lowercase")]
    [InlineData("docker.io/Library/ubuntu", "lowercase")]
    [InlineData("ubuntu:", "invalid tag")]
    [InlineData("ubuntu:-bad", "invalid tag")]
    [InlineData("ubuntu@sha256:abc", "digest")]
    [InlineData("ubuntu@md5:e3b0c44298fc1c149afbf4c8996fb924", "digest")]
    [InlineData("localhost:5000/", "no repository")]
    [InlineData("a//b", "invalid repository")]
    [InlineData("a/b_", "invalid repository")]
    [InlineData("with space", "whitespace")]
    [InlineData("bad_host:x/y", "invalid registry")]
    public void Parse_rejects_bad_references_saying_why(string text, string reason)
    {
        Assert.False(ImageReference.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => ImageReference.Parse(text));
        Assert.Contains("invalid image reference", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Over_long_names_and_tags_are_rejected()
    {
        Assert.Throws<FormatException>(() => ImageReference.Parse("localhost/" + new string('a', 250)));
        Assert.Throws<FormatException>(() => ImageReference.Parse("x:" + new string('a', 129)));
        Assert.Equal(new string('a', 128), ImageReference.Parse("x:" + new string('a', 128)).Tag);
    }

    [Fact]
    public void WithDigest_and_WithName_keep_the_rest()
    {
        var reference = ImageReference.Parse("localhost:5000/app:v1");
        var pinned = reference.WithDigest(Digest.Parse(SomeDigest));
        Assert.Equal("localhost:5000/app:v1@" + SomeDigest, pinned.ToString());
        var moved = reference.WithName("mirror.local", "team/app");
        Assert.Equal("mirror.local/team/app:v1", moved.ToString());
        Assert.Equal("localhost:5000/app:v2", reference.WithTag("v2").ToString());
        Assert.Throws<FormatException>(() => reference.WithTag("no/slash"));
    }
}
