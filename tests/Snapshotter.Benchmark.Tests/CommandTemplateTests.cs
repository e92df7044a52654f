using Snapshotter.Benchmark.Commands;
using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Tests;

public sealed class CommandTemplateTests
{
    private static readonly Dictionary<string, string> Values = new()
    {
        ["address"] = "/run/c.sock",
        ["hosts"] = "/etc/hosts.d",
        ["snapshotter"] = "stargz",
        ["ref"] = "h:5000/a:1",
    };

    [Fact]
    public void Expands_placeholders_into_words_even_inside_a_word()
    {
        var argv = CommandTemplate.Expand("stargzctl  --address={address} rpull --hosts-dir {hosts} {ref}", Values);
        Assert.Equal(["stargzctl", "--address=/run/c.sock", "rpull", "--hosts-dir", "/etc/hosts.d", "h:5000/a:1"], argv);
    }

    [Fact]
    public void The_default_pull_commands_use_only_known_placeholders()
    {
        Assert.Equal(["ctr-remote", "--address", "/run/c.sock", "images", "rpull", "--hosts-dir", "/etc/hosts.d", "--snapshotter", "stargz", "h:5000/a:1"],
            CommandTemplate.Expand(PullMode.DefaultLazyPull, Values));
        Assert.Equal("ctr", CommandTemplate.Expand(PullMode.DefaultOverlayfsPull, Values)[0]);
    }

    [Theory]
    [InlineData("ctr pull {image}", "unknown placeholder {image}")]
    [InlineData("ctr pull {ref", "unclosed")]
    [InlineData("   ", "empty command")]
    public void Rejects_unknown_placeholders_and_malformed_templates(string template, string message)
    {
        var error = Assert.Throws<FormatException>(() => CommandTemplate.Validate(template, CommandTemplate.PullPlaceholders));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Modes_default_to_overlayfs_then_lazy_then_optimized_when_there_are_optimized_images()
    {
        Assert.Equal([PullMode.OverlayfsName, PullMode.LazyName], RunCommand.Modes(null, "a", "b", optimizedImages: false).Select(m => m.Name));
        Assert.Equal([PullMode.OverlayfsName, PullMode.LazyName, PullMode.LazyOptimizedName], RunCommand.Modes(null, "a", "b", optimizedImages: true).Select(m => m.Name));
        var optimized = Assert.Single(RunCommand.Modes(["lazy-optimized"], "full {ref}", "lazy {ref}", optimizedImages: true));
        Assert.Equal(("stargz", "lazy {ref}"), (optimized.Snapshotter, optimized.PullCommand));
        Assert.Throws<FormatException>(() => RunCommand.Modes(["zstd"], "a", "b", optimizedImages: false));
    }

    [Fact]
    public void Each_mode_pulls_its_own_variant_of_the_image_and_settings_refuse_a_missing_one()
    {
        var image = ImageSpec.Parse("name=a,plain=h:1/a:plain,lazy=h:1/a:esgz,url=http://127.0.0.1:1/");
        Assert.Equal(["h:1/a:plain", "h:1/a:esgz", null], new[] { PullMode.Overlayfs(), PullMode.Lazy(), PullMode.LazyOptimized() }.Select(m => m.ReferenceOf(image)));
        var settings = new Running.BenchmarkSettings
        {
            Images = [image],
            Modes = [PullMode.LazyOptimized()],
            WorkDirectory = "/tmp/w",
            HostsDirectory = "/tmp/h",
            SnapshotterExecutable = "/bin/sh",
        };
        Assert.Contains("mode lazy-optimized needs an image for 'a' (optimized=REF)", settings.Validate());
    }

    [Fact]
    public void Settings_refuse_a_containerd_log_level_containerd_would_not_take()
    {
        var settings = new Running.BenchmarkSettings
        {
            Images = [ImageSpec.Parse("name=a,plain=h:1/a:plain,lazy=h:1/a:esgz,url=http://127.0.0.1:1/")],
            Modes = [PullMode.Lazy()],
            WorkDirectory = "/tmp/w",
            HostsDirectory = "/tmp/h",
            SnapshotterExecutable = "/bin/sh",
            ContainerdLogLevel = "verbose",
        };
        Assert.Contains("containerd log level 'verbose' is not one of trace, debug, info, warn, error, fatal, panic", settings.Validate());
        Assert.Empty((settings with { ContainerdLogLevel = "debug" }).Validate());
    }
}
