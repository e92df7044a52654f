using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Reporting;

/// <summary>The statistics of one image in one mode: successful runs only; failures are counted.</summary>
internal sealed record ModeSummary(string Image, string Mode, int Succeeded, int Failed, IReadOnlyDictionary<Phase, Statistics?> Phases)
{
    public Statistics? this[Phase phase] => Phases[phase];
}

/// <summary>
/// A lazy mode against overlayfs for one image, from the medians, and the pull → ready speedup of
/// each repetition that succeeded in both modes (runs are interleaved by repetition, so a pair
/// shares the machine's state of the moment): the spread a median hides.
/// </summary>
internal sealed record Comparison(string Image, string Mode, double? PullToReadySpeedup, double? StartToReadyRatio, IReadOnlyList<double> PullToReadySpeedups);

/// <summary>A result reduced to per-image, per-mode statistics, in the order the images and modes were given.</summary>
internal sealed record ResultSummary(BenchmarkResult Result, IReadOnlyList<ModeSummary> Modes)
{
    public static ResultSummary Of(BenchmarkResult result)
    {
        var summaries = new List<ModeSummary>();
        foreach (var image in result.Images)
        {
            foreach (var mode in result.Modes)
            {
                var runs = result.Runs.Where(r => r.Image == image.Name && r.Mode == mode.Name).ToList();
                var succeeded = runs.Where(r => r.Succeeded).ToList();
                var phases = Phase.All.ToDictionary(p => p, p => Statistics.Of(succeeded.Select(p.Value).OfType<double>()));
                summaries.Add(new ModeSummary(image.Name, mode.Name, succeeded.Count, runs.Count - succeeded.Count, phases));
            }
        }
        return new ResultSummary(result, summaries);
    }

    public ModeSummary? Find(string image, string mode) => Modes.FirstOrDefault(m => m.Image == image && m.Mode == mode);

    public IEnumerable<Comparison> Comparisons() =>
        from image in Result.Images
        from mode in Result.Modes.Where(m => m.IsLazy)
        let full = Find(image.Name, PullMode.OverlayfsName)
        let lazy = Find(image.Name, mode.Name)
        let comparison = new Comparison(image.Name, mode.Name,
            Ratio(full?[Phase.PullToReady], lazy?[Phase.PullToReady]),
            Ratio(lazy?[Phase.StartToReady], full?[Phase.StartToReady]),
            PairedSpeedups(image.Name, mode.Name))
        where comparison.PullToReadySpeedup is not null || comparison.StartToReadyRatio is not null
        select comparison;

    private List<double> PairedSpeedups(string image, string mode)
    {
        var full = Result.Runs.Where(r => r.Image == image && r.Mode == PullMode.OverlayfsName && r.Succeeded)
            .GroupBy(r => r.Repetition).ToDictionary(g => g.Key, g => g.First().PullToReadySeconds!.Value);
        return Result.Runs.Where(r => r.Image == image && r.Mode == mode && r.Succeeded && r.PullToReadySeconds > 0 && full.ContainsKey(r.Repetition))
            .OrderBy(r => r.Repetition)
            .Select(r => full[r.Repetition] / r.PullToReadySeconds!.Value)
            .ToList();
    }

    private static double? Ratio(Statistics? numerator, Statistics? denominator) =>
        numerator is null || denominator is null || denominator.Median <= 0 ? null : numerator.Median / denominator.Median;
}
