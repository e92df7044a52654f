using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Snapshotter.Containerd.Pull;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Cli.Commands;

/// <summary>
/// <c>stargzctl rpull REF</c>: pulls an image into containerd so that the stargz snapshotter mounts
/// its eStargz layers lazily, fetching and applying the layers it does not take; the same result
/// as <c>ctr-remote image rpull</c>.
/// </summary>
internal static class RpullCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("ref") { Description = "the image, e.g. ghcr.io/stargz-containers/python:3.10-esgz" };
        var platform = new Option<string?>("--platform") { Description = "the platform to pull from a multi-platform image (os/arch[/variant]; default: this machine's)" };
        var snapshotter = new Option<string>("--snapshotter") { Description = "the snapshotter to unpack into", DefaultValueFactory = _ => PullOptions.DefaultSnapshotter };
        var plainHttp = new Option<bool>("--plain-http") { Description = "let a registry that does not speak TLS be reached over plain http (loopback ones always may)" };
        var hostsDir = new Option<string?>("--hosts-dir") { Description = "containerd's certs.d directory of <host>/hosts.toml files (mirrors, CAs, client certificates)" };
        var dockerConfig = new Option<string?>("--docker-config") { Description = "Docker's config.json with registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)" };
        var labels = new Option<string[]>("--label") { Description = "a label of the image record, key=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print nothing but errors" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "log every step (registry requests, containerd calls) with timestamps on stderr" };
        var command = new Command("rpull", "pull an image into containerd for lazy use through the stargz snapshotter")
        {
            reference, platform, snapshotter, plainHttp, hostsDir, dockerConfig, labels, quiet, verbose,
        };
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var image = Parse(result.GetRequiredValue(reference), ImageReference.Parse, "image reference");
            var options = new PullOptions
            {
                Snapshotter = result.GetRequiredValue(snapshotter),
                Platform = result.GetValue(platform) is { } text ? Parse(text, Platform.Parse, "platform") : null,
                ImageLabels = ParseLabels(result.GetValue(labels) ?? []),
            };
            using var logging = Logging.Create(result.GetValue(verbose));
            using var registry = new RegistryClient(new RegistryClientOptions
            {
                PlainHttp = result.GetValue(plainHttp),
                HostsDirectory = result.GetValue(hostsDir),
                DockerConfigPath = result.GetValue(dockerConfig),
            }, logging.CreateLogger<RegistryClient>());
            using var containerd = GlobalOptions.Connect(result);
            var puller = new ImagePuller(containerd, registry, logging.CreateLogger<ImagePuller>());
            var display = PullDisplay.For(result.GetValue(quiet));
            var clock = Stopwatch.StartNew();
            var pulled = await display.RunAsync(progress => puller.PullAsync(image, options, progress, cancellationToken));
            display.Summary(pulled, clock.Elapsed);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static T Parse<T>(string text, Func<string, T> parse, string what)
    {
        try
        {
            return parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new UsageException(e.Message.Contains(text, StringComparison.Ordinal) ? e.Message : $"invalid {what} '{text}': {e.Message}");
        }
    }

    private static Dictionary<string, string> ParseLabels(IEnumerable<string> pairs)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"invalid label '{pair}': expected key=value");
            }
            labels[pair[..equals]] = pair[(equals + 1)..];
        }
        return labels;
    }
}
