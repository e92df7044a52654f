namespace Snapshotter.Benchmark.Model;

/// <summary>Everything one <c>stargz-bench run</c> measured, with what is needed to reproduce or compare it.</summary>
internal sealed record BenchmarkResult
{
    public const int CurrentSchema = 1;

    public int Schema { get; init; } = CurrentSchema;

    /// <summary>Names this result set in tables and charts (default: the commit, else the date).</summary>
    public required string Label { get; init; }

    /// <summary>The commit of the snapshotter that was measured, when known.</summary>
    public string? Commit { get; init; }

    /// <summary>The registry link, as set up outside the tool (e.g. "150 Mbit/s, 20 ms RTT (tc netem)").</summary>
    public string? Link { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required MachineInfo Machine { get; init; }

    public required int Repetitions { get; init; }

    public required IReadOnlyList<ImageSpec> Images { get; init; }

    public required IReadOnlyList<PullMode> Modes { get; init; }

    public List<RunRecord> Runs { get; init; } = [];
}
