using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Tests;

public sealed class ImageSpecTests
{
    [Fact]
    public void Parses_every_key_and_keeps_commas_and_spaces_of_the_trailing_command()
    {
        var spec = ImageSpec.Parse("name=web,plain=10.0.0.2:5000/web:plain,lazy=10.0.0.2:5000/web:esgz,url=http://127.0.0.1:8080/health,command=/bin/sh -c echo a,b");

        Assert.Equal("web", spec.Name);
        Assert.Equal("10.0.0.2:5000/web:plain", spec.PlainRef);
        Assert.Equal("10.0.0.2:5000/web:esgz", spec.LazyRef);
        Assert.Null(spec.OptimizedRef);
        Assert.Equal(new Uri("http://127.0.0.1:8080/health"), spec.ReadyUrl);
        Assert.Equal(["/bin/sh", "-c", "echo", "a,b"], spec.Command);
    }

    [Fact]
    public void An_optimized_image_is_optional()
    {
        Assert.Equal("h:1/a:opt", ImageSpec.Parse("name=a,plain=h:1/a:1,lazy=h:1/a:2,optimized=h:1/a:opt,url=http://127.0.0.1:1/").OptimizedRef);
    }

    [Fact]
    public void Without_a_command_the_image_runs_its_own_entrypoint()
    {
        Assert.Empty(ImageSpec.Parse("name=a,plain=h:1/a:1,lazy=h:1/a:2,url=http://127.0.0.1:1/").Command);
    }

    [Theory]
    [InlineData("name=a,plain=h:1/a:1,url=http://127.0.0.1:1/", "'lazy' is missing")]
    [InlineData("name=a,plain=h:1/a:1,lazy=h:1/a:2,url=ftp://x/", "not an absolute http(s) URL")]
    [InlineData("name=a,plain=h:1/a:1,lazy=h:1/a:2,url=http://127.0.0.1:1/,port=1", "unknown key 'port'")]
    [InlineData("name=a,name=b,plain=h:1/a:1,lazy=h:1/a:2,url=http://127.0.0.1:1/", "'name' given twice")]
    [InlineData("just-a-name", "expected name=NAME")]
    [InlineData("name=a,plain=h:1/A:1,lazy=h:1/a:2,url=http://127.0.0.1:1/", "plain 'h:1/A:1' is not an image reference")]
    public void Rejects_an_incomplete_or_wrong_spec_saying_what_is_wrong(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => ImageSpec.Parse(text));
        Assert.Contains(message, error.Message);
    }
}
