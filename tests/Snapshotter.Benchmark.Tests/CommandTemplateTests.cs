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
    public void Modes_default_to_overlayfs_then_lazy_and_an_unknown_mode_is_refused()
    {
        Assert.Equal([PullMode.OverlayfsName, PullMode.LazyName], RunCommand.Modes(null, "a", "b").Select(m => m.Name));
        var lazyOnly = Assert.Single(RunCommand.Modes(["lazy"], "full {ref}", "lazy {ref}"));
        Assert.Equal(("stargz", "lazy {ref}"), (lazyOnly.Snapshotter, lazyOnly.PullCommand));
        Assert.Throws<FormatException>(() => RunCommand.Modes(["zstd"], "a", "b"));
    }
}
