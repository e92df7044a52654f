namespace Snapshotter.Benchmark.Model;

/// <summary>
/// One cold run of one image in one mode. Times are seconds from a monotonic clock: the pull
/// command; <c>ctr run -d</c> (container created, task started); from that start to the first
/// HTTP 200; and from the start of the pull to that first 200. A failed run keeps its error and
/// whatever it measured before failing, and is left out of the statistics.
/// </summary>
internal sealed record RunRecord
{
    public required string Image { get; init; }

    public required string Mode { get; init; }

    public required int Repetition { get; init; }

    /// <summary>Wall-clock time the pull began, to line a run up with the daemon's and containerd's logs.</summary>
    public DateTimeOffset? PullStartedAt { get; init; }

    public double? PullSeconds { get; init; }

    public double? StartSeconds { get; init; }

    public double? StartToReadySeconds { get; init; }

    public double? PullToReadySeconds { get; init; }

    /// <summary>Bytes received on the registry link from the start of the pull to ready (null when no link interface is counted).</summary>
    public long? RegistryBytes { get; init; }

    /// <summary>FUSE layer mounts under our daemon's root at ready: how many layers were lazily mounted.</summary>
    public int LazyLayers { get; init; }

    /// <summary>The 1-minute load average before the run (other work on the machine).</summary>
    public double LoadAverage { get; init; }

    public string? Error { get; init; }

    public bool Succeeded => Error is null && PullToReadySeconds is not null;
}
