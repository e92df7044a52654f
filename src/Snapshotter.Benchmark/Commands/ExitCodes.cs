namespace Snapshotter.Benchmark.Commands;

internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The benchmark ran, but some runs failed (they are in the JSON with their error).</summary>
    public const int RunsFailed = 1;

    public const int Usage = 2;

    public const int Error = 3;
}
