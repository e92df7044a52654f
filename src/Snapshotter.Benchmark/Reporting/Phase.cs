using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Reporting;

/// <summary>A measured quantity of a run, as the tables and the chart show it.</summary>
internal sealed record Phase(string Title, string Format, Func<RunRecord, double?> Value)
{
    public static readonly Phase Pull = new("pull (s)", "F2", r => r.PullSeconds);
    public static readonly Phase StartToReady = new("start → ready (s)", "F2", r => r.StartToReadySeconds);
    public static readonly Phase PullToReady = new("pull → ready (s)", "F2", r => r.PullToReadySeconds);
    public static readonly Phase RegistryMegabytes = new("from registry (MB)", "F1", r => r.RegistryBytes / 1e6);

    public static readonly IReadOnlyList<Phase> All = [Pull, StartToReady, PullToReady, RegistryMegabytes];
}
