using System.Globalization;
using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Running;

/// <summary>Facts about this machine from /proc and /sys.</summary>
internal static class HostInfo
{
    public static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>Bytes received so far on a network interface.</summary>
    public static long ReceivedBytes(string networkInterface) =>
        long.Parse(File.ReadAllText($"/sys/class/net/{networkInterface}/statistics/rx_bytes").Trim(), CultureInfo.InvariantCulture);

    public static async Task<MachineInfo> DescribeAsync(BenchmarkSettings settings, CancellationToken cancellationToken)
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memoryKiB = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var os = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? "Linux";
        var tools = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, argv) in new (string, string[])[]
        {
            ("containerd", [settings.Containerd, "--version"]),
            ("ctr", [settings.Ctr, "--version"]),
            ("runc", ["runc", "--version"]),
        })
        {
            tools[name] = await FirstLineAsync(argv, cancellationToken);
        }
        foreach (var mode in settings.Modes)
        {
            var tool = mode.PullCommand.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
            tools.TryAdd(tool, await FirstLineAsync([tool, "--version"], cancellationToken));
        }
        return new MachineInfo(cpu, Environment.ProcessorCount,
            Math.Round(long.Parse(memoryKiB, CultureInfo.InvariantCulture) / 1024.0 / 1024.0, 1),
            File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), os, tools);
    }

    private static async Task<string> FirstLineAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
    {
        try
        {
            var outcome = await ExternalCommand.RunAsync(argv, TimeSpan.FromSeconds(20), cancellationToken);
            var text = outcome.StandardOutput.Length > 0 ? outcome.StandardOutput : outcome.StandardError;
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"not found ({e.Message})";
        }
    }
}
