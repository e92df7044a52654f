namespace Snapshotter.Benchmark.Reporting;

/// <summary>Median, minimum and maximum of a set of measurements (the median of an even count is the mean of the middle two).</summary>
internal sealed record Statistics(double Median, double Min, double Max, int Count)
{
    public static Statistics? Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }
        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Statistics(median, sorted[0], sorted[^1], sorted.Length);
    }
}
