using System.CommandLine;
using Snapshotter.Benchmark.Model;
using Snapshotter.Benchmark.Reporting;
using Snapshotter.Benchmark.Running;

namespace Snapshotter.Benchmark.Commands;

/// <summary><c>stargz-bench run</c>: measure, then write the JSON, the Markdown table and the chart.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var images = new Option<string[]>("--image") { Description = $"an image under test: {ImageSpec.Syntax} (repeatable)", Required = true };
        var modes = new Option<string[]>("--mode") { Description = "modes to measure, in this order: overlayfs, lazy, lazy-optimized (repeatable; default overlayfs and lazy, plus lazy-optimized when every image has an optimized ref)", AllowMultipleArgumentsPerToken = true };
        var repetitions = new Option<int>("--repetitions", "-n") { Description = "cold runs per image and mode", DefaultValueFactory = _ => 5 };
        var output = new Option<string>("--output", "-o") { Description = "directory for readiness.json, .md, .png and .svg", DefaultValueFactory = _ => "artifacts/bench" };
        var work = new Option<string?>("--work") { Description = "directory for each run's containerd and daemon roots and their logs (short: it holds unix sockets; default /tmp/stargz-bench-PID)" };
        var hosts = new Option<string?>("--hosts-dir") { Description = "containerd certs.d directory (<host:port>/hosts.toml) for the pulls and our daemon; default: one made for the images' registries" };
        var plainHttp = new Option<bool>("--plain-http") { Description = "with the generated hosts directory: the images' registries speak plain http" };
        var snapshotter = new Option<string>("--snapshotter-bin") { Description = "our daemon's executable", DefaultValueFactory = _ => "artifacts/bin/stargz-snapshotter/stargz-snapshotter" };
        var snapshotterConfig = new Option<string?>("--snapshotter-config") { Description = "daemon config file to use instead of the generated one (which sets only [registry] config_path)" };
        var lazyPull = new Option<string>("--lazy-pull") { Description = $"lazy pull command; placeholders {{{string.Join("}, {", CommandTemplate.PullPlaceholders)}}}", DefaultValueFactory = _ => PullMode.DefaultLazyPull };
        var fullPull = new Option<string>("--overlayfs-pull") { Description = "full pull command, same placeholders", DefaultValueFactory = _ => PullMode.DefaultOverlayfsPull };
        var linkInterface = new Option<string?>("--link-interface") { Description = "network interface whose received bytes are the registry's traffic (reported as MB from registry)" };
        var link = new Option<string?>("--link") { Description = "how the registry link is shaped, for the report (e.g. \"150 Mbit/s, 20 ms RTT\")" };
        var label = new Option<string?>("--label") { Description = "names this result in tables and charts (default: the commit)" };
        var commit = new Option<string?>("--commit") { Description = "the commit measured, recorded with the figures" };
        var noDrop = new Option<bool>("--no-drop-caches") { Description = "do not drop the page cache before each run" };
        var containerdLogLevel = new Option<string>("--containerd-log-level") { Description = "containerd's --log-level in each run (debug shows its side of a pull's gaps)", DefaultValueFactory = _ => "warn" };
        var readyTimeout = new Option<int>("--ready-timeout") { Description = "seconds a container may take to answer 200", DefaultValueFactory = _ => 300 };
        var command = new Command("run", "measure pull, start and readiness of images, cold, full pull on overlayfs vs lazy pull (needs root)")
        {
            images, modes, repetitions, output, work, hosts, plainHttp, snapshotter, snapshotterConfig, lazyPull, fullPull,
            linkInterface, link, label, commit, noDrop, readyTimeout, containerdLogLevel,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var workDirectory = Path.GetFullPath(result.GetValue(work) ?? Path.Combine(Path.GetTempPath(), $"stargz-bench-{Environment.ProcessId}"));
            var specs = result.GetRequiredValue(images).Select(ImageSpec.Parse).ToList();
            var hostsDirectory = result.GetValue(hosts) is { } given ? Path.GetFullPath(given)
                : HostsDirectory.Write(Path.Combine(workDirectory, "hosts"), specs, result.GetValue(plainHttp));
            var settings = new BenchmarkSettings
            {
                Images = specs,
                Modes = Modes(result.GetValue(modes), result.GetRequiredValue(fullPull), result.GetRequiredValue(lazyPull), specs.All(s => s.OptimizedRef is not null)),
                Repetitions = result.GetValue(repetitions),
                WorkDirectory = workDirectory,
                HostsDirectory = hostsDirectory,
                SnapshotterExecutable = Path.GetFullPath(result.GetRequiredValue(snapshotter)),
                SnapshotterConfig = result.GetValue(snapshotterConfig) is { } config ? Path.GetFullPath(config) : null,
                ContainerdLogLevel = result.GetRequiredValue(containerdLogLevel),
                DropCaches = !result.GetValue(noDrop),
                LinkInterface = result.GetValue(linkInterface),
                ReadyTimeout = TimeSpan.FromSeconds(result.GetValue(readyTimeout)),
                Label = result.GetValue(label),
                Commit = result.GetValue(commit),
                Link = result.GetValue(link),
            };
            if (settings.Validate().ToList() is { Count: > 0 } problems)
            {
                throw new FormatException(string.Join("\n", problems));
            }
            var outputDirectory = result.GetRequiredValue(output);
            Directory.CreateDirectory(outputDirectory);
            var json = Path.Combine(outputDirectory, "readiness.json");
            var measured = await new ReadinessBenchmark(settings, Console.Error).RunAsync(json, cancellationToken);
            var written = await ReportFiles.WriteAsync([measured], outputDirectory, "readiness", cancellationToken);
            Console.Write(await File.ReadAllTextAsync(written.Markdown, cancellationToken));
            Console.Error.WriteLine($"stargz-bench: wrote {json}, {written.Markdown}, {written.Png}, {written.Svg}; logs in {Path.Combine(workDirectory, "logs")}");
            return measured.Runs.All(r => r.Succeeded) ? ExitCodes.Success : ExitCodes.RunsFailed;
        });
        return command;
    }

    internal static List<PullMode> Modes(string[]? names, string fullPull, string lazyPull, bool optimizedImages)
    {
        var wanted = names is { Length: > 0 } ? names
            : optimizedImages ? [PullMode.OverlayfsName, PullMode.LazyName, PullMode.LazyOptimizedName]
            : [PullMode.OverlayfsName, PullMode.LazyName];
        return wanted.Select(name => name switch
        {
            PullMode.OverlayfsName => PullMode.Overlayfs(fullPull),
            PullMode.LazyName => PullMode.Lazy(lazyPull),
            PullMode.LazyOptimizedName => PullMode.LazyOptimized(lazyPull),
            _ => throw new FormatException($"unknown mode '{name}'; expected {PullMode.OverlayfsName}, {PullMode.LazyName} or {PullMode.LazyOptimizedName}"),
        }).DistinctBy(m => m.Name).ToList();
    }
}
