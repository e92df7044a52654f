using System.Text.RegularExpressions;
using Snapshotter.Testing;
using Tomlyn;
using Tomlyn.Model;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// The configuration reference and the deployment files are checked against the daemon's own
/// configuration, so that they cannot drift from it: docs/configuration.md has a row for every
/// option of config.example.toml (which ConfigTests keeps equal to the defaults) with the same
/// default, and nothing else; deploy/kubernetes agrees with itself and with containerd's snippets.
/// </summary>
public sealed partial class DocumentationTests
{
    private static readonly string Reference = Path.Combine(RepositoryPaths.Root, "docs", "configuration.md");
    private static readonly string Example = Path.Combine(RepositoryPaths.Root, "src", "Snapshotter.Daemon", "config.example.toml");
    private static readonly string Kubernetes = Path.Combine(RepositoryPaths.Root, "deploy", "kubernetes");

    [Fact]
    public void The_configuration_reference_has_every_option_of_the_example_with_its_default_and_no_other()
    {
        var example = ExampleOptions(File.ReadAllLines(Example));
        var reference = ReferenceRows(File.ReadAllLines(Reference));

        Assert.NotEmpty(example);
        foreach (var (option, literal) in example)
        {
            Assert.True(reference.TryGetValue(option, out var cell), $"docs/configuration.md has no row for {Name(option)} in its section");
            Assert.True($"`{literal}`" == cell, $"docs/configuration.md gives {Name(option)} the default {cell}; config.example.toml has {literal}");
        }
        Assert.Empty(reference.Keys.Except(example.Keys).Select(Name));
    }

    [Fact]
    public void The_configuration_reference_has_every_command_line_flag()
    {
        var text = File.ReadAllText(Reference);
        var flags = FlagPattern().Matches(CommandLine.Usage).Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(flags);
        Assert.All(flags, flag => Assert.Contains($"`{flag}", text, StringComparison.Ordinal));
    }

    [Fact]
    public void The_reading_of_the_documents_finds_a_missing_row_and_a_wrong_default()
    {
        string[] example = ["address = \"/s\"", "", "[cache]", "max_bytes = 5"];
        Assert.Equal(new Dictionary<(string, string), string> { [("", "address")] = "\"/s\"", [("cache", "max_bytes")] = "5" }, ExampleOptions(example));

        string[] reference = ["## Top level", "| `address` | `\"/s\"` | path | x |", "## `[cache]`", "| `max_bytes` | `6` | bytes | y |", "## Per-image settings", "| `other` | z |"];
        var rows = ReferenceRows(reference);
        Assert.Equal("`6`", rows[("cache", "max_bytes")]);
        Assert.False(rows.ContainsKey(("", "other")));
        Assert.False(ReferenceRows(reference[2..]).ContainsKey(("", "address")));
    }

    [Fact]
    public void The_kubernetes_config_is_valid_and_its_socket_and_root_match_the_host_volumes_and_containerd()
    {
        var manifest = File.ReadAllText(Path.Combine(Kubernetes, "stargz-snapshotter.yaml"));
        var config = DaemonConfig.FromToml(EmbeddedConfig(manifest), "stargz-snapshotter.yaml config.toml");

        Assert.Contains($"path: {Path.GetDirectoryName(config.Address)}\n", manifest, StringComparison.Ordinal);
        Assert.Contains($"path: {config.Root}\n", manifest, StringComparison.Ordinal);
        Assert.Contains($"[\"--config\", \"{DaemonConfig.DefaultConfigPath}\"]", manifest, StringComparison.Ordinal);
        foreach (var file in new[] { "containerd-config-v2.toml", "containerd-config-v3.toml" })
        {
            var containerd = TomlSerializer.Deserialize<TomlTable>(File.ReadAllText(Path.Combine(Kubernetes, file)))!;
            var stargz = Table(Table(containerd, "proxy_plugins"), "stargz");
            Assert.Equal("snapshot", stargz["type"]);
            Assert.Equal(config.Address, stargz["address"]);
            Assert.Equal(config.Root, Table(stargz, "exports")["root"]);
            Assert.Equal("true", Table(stargz, "exports")["enable_remote_snapshot_annotations"]);
            var images = Table(Table(containerd, "plugins"), file.Contains("v2", StringComparison.Ordinal) ? "io.containerd.grpc.v1.cri" : "io.containerd.cri.v1.images");
            var cri = file.Contains("v2", StringComparison.Ordinal) ? Table(images, "containerd") : images;
            Assert.Equal("stargz", cri["snapshotter"]);
            Assert.False(Assert.IsType<bool>(cri["disable_snapshot_annotations"]));
        }
    }

    /// <summary>Each option of config.example.toml, by (section, key), with its value as written; checked against a TOML parse.</summary>
    private static Dictionary<(string Section, string Key), string> ExampleOptions(string[] lines)
    {
        var options = new Dictionary<(string, string), string>();
        var section = "";
        foreach (var line in lines)
        {
            if (SectionPattern().Match(line) is { Success: true } header)
            {
                section = header.Groups[1].Value;
            }
            else if (OptionPattern().Match(line) is { Success: true } option)
            {
                options.Add((section, option.Groups[1].Value), option.Groups[2].Value.Trim());
            }
        }
        var parsed = TomlSerializer.Deserialize<TomlTable>(string.Join('\n', lines))!;
        var keys = parsed.SelectMany(p => p.Value is TomlTable table
            ? table.Keys.Select(k => (Section: p.Key, Key: k))
            : new[] { (Section: "", Key: p.Key) });
        Assert.Equal(keys.Order(), options.Keys.Order());
        return options;
    }

    /// <summary>The default cell of each option row of docs/configuration.md, by (section, key); rows outside an option section are left out.</summary>
    private static Dictionary<(string Section, string Key), string> ReferenceRows(string[] lines)
    {
        var rows = new Dictionary<(string, string), string>();
        string? section = null;
        foreach (var line in lines)
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                section = line == "## Top level" ? "" : HeadingSectionPattern().Match(line) is { Success: true } m ? m.Groups[1].Value : null;
            }
            else if (section is not null && RowPattern().Match(line) is { Success: true } row)
            {
                rows.Add((section, row.Groups[1].Value), row.Groups[2].Value.Trim());
            }
        }
        return rows;
    }

    /// <summary>The ConfigMap's <c>config.toml: |</c> block, unindented.</summary>
    private static string EmbeddedConfig(string manifest)
    {
        var lines = manifest.Split('\n');
        var start = Array.IndexOf(lines, "  config.toml: |");
        Assert.True(start >= 0, "no config.toml block in the ConfigMap");
        return string.Join('\n', lines.Skip(start + 1).TakeWhile(l => l.Length == 0 || l.StartsWith("    ", StringComparison.Ordinal)).Select(l => l.Length == 0 ? l : l[4..]));
    }

    private static TomlTable Table(TomlTable table, string key) => Assert.IsType<TomlTable>(table[key]);

    private static string Name((string Section, string Key) option) => option.Section.Length == 0 ? option.Key : $"{option.Section}.{option.Key}";

    [GeneratedRegex(@"^\[(\w+)\]\s*$")]
    private static partial Regex SectionPattern();

    [GeneratedRegex(@"^(\w+) = (.+)$")]
    private static partial Regex OptionPattern();

    [GeneratedRegex(@"`\[(\w+)\]`")]
    private static partial Regex HeadingSectionPattern();

    [GeneratedRegex(@"^\| `(\w+)` \| ([^|]*) \|")]
    private static partial Regex RowPattern();

    [GeneratedRegex(@"--[a-z][a-z-]*")]
    private static partial Regex FlagPattern();
}
