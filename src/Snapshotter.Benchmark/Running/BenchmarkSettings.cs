using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Running;

/// <summary>What <c>stargz-bench run</c> was asked to do, checked before anything starts.</summary>
internal sealed record BenchmarkSettings
{
    public required IReadOnlyList<ImageSpec> Images { get; init; }

    public required IReadOnlyList<PullMode> Modes { get; init; }

    public int Repetitions { get; init; } = 5;

    /// <summary>Per-run roots, sockets and logs of containerd and our daemon (short: unix socket paths are limited to 107 bytes).</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>containerd's certs.d layout, given to the pull commands ({hosts}) and to our daemon's <c>[registry] config_path</c>.</summary>
    public required string HostsDirectory { get; init; }

    public required string SnapshotterExecutable { get; init; }

    /// <summary>A daemon config file to use instead of the generated one (which only sets <c>[registry] config_path</c>).</summary>
    public string? SnapshotterConfig { get; init; }

    public string Containerd { get; init; } = "containerd";

    /// <summary>containerd's <c>--log-level</c>: trace, debug, info, warn, error, fatal or panic.</summary>
    public string ContainerdLogLevel { get; init; } = "warn";

    public string Ctr { get; init; } = "ctr";

    public bool DropCaches { get; init; } = true;

    /// <summary>A network interface whose received bytes are the registry traffic (the host end of the shaped link).</summary>
    public string? LinkInterface { get; init; }

    public TimeSpan PullTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public string? Label { get; init; }

    public string? Commit { get; init; }

    public string? Link { get; init; }

    public IEnumerable<string> Validate()
    {
        if (Images.Count == 0)
        {
            yield return "no --image given";
        }
        if (Images.GroupBy(i => i.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            yield return $"image name '{twice.Key}' given twice";
        }
        if (Repetitions < 1)
        {
            yield return "--repetitions must be at least 1";
        }
        if (!File.Exists(SnapshotterExecutable))
        {
            yield return $"snapshotter executable '{SnapshotterExecutable}' not found (--snapshotter-bin)";
        }
        if (SnapshotterConfig is not null && !File.Exists(SnapshotterConfig))
        {
            yield return $"snapshotter config '{SnapshotterConfig}' not found";
        }
        if (ContainerdLogLevel is not ("trace" or "debug" or "info" or "warn" or "error" or "fatal" or "panic"))
        {
            yield return $"containerd log level '{ContainerdLogLevel}' is not one of trace, debug, info, warn, error, fatal, panic";
        }
        if (LinkInterface is not null && !Directory.Exists($"/sys/class/net/{LinkInterface}"))
        {
            yield return $"network interface '{LinkInterface}' not found (--link-interface)";
        }
        foreach (var (mode, image) in Modes.SelectMany(m => Images.Select(i => (m, i))).Where(p => p.m.ReferenceOf(p.i) is null))
        {
            yield return $"mode {mode.Name} needs an image for '{image.Name}' (optimized=REF)";
        }
        foreach (var mode in Modes)
        {
            string? error = null;
            try
            {
                CommandTemplate.Validate(mode.PullCommand, CommandTemplate.PullPlaceholders);
            }
            catch (FormatException e)
            {
                error = $"{mode.Name} pull command: {e.Message}";
            }
            if (error is not null)
            {
                yield return error;
            }
        }
    }
}
