using System.Globalization;
using System.Text;
using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Reporting;

/// <summary>
/// Markdown for docs/benchmarks.md: per result set, what was measured where, a table of
/// median (min–max) per phase, image and mode, and each lazy mode against overlayfs per image.
/// </summary>
internal static class MarkdownReport
{
    public static string Render(IReadOnlyList<ResultSummary> summaries, string? chartFile)
    {
        var text = new StringBuilder();
        foreach (var summary in summaries)
        {
            AppendSection(text, summary);
        }
        if (chartFile is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"![pull and start-to-ready times, median with min–max whiskers]({chartFile})\n");
        }
        return text.ToString();
    }

    /// <summary>"12.31 (11.90–13.02)", or "–" when nothing was measured.</summary>
    public static string Cell(Statistics? statistics, string format) =>
        statistics is null ? "–"
        : statistics.Count == 1 ? statistics.Median.ToString(format, CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture,
            $"{statistics.Median.ToString(format, CultureInfo.InvariantCulture)} ({statistics.Min.ToString(format, CultureInfo.InvariantCulture)}–{statistics.Max.ToString(format, CultureInfo.InvariantCulture)})");

    /// <summary>"5.2× faster" / "1.3× slower".</summary>
    public static string Speedup(double ratio) =>
        ratio >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{ratio:F1}× faster")
        : string.Create(CultureInfo.InvariantCulture, $"{1 / ratio:F1}× slower");

    /// <summary>"+35%" / "−12%": how much longer (shorter) lazy takes.</summary>
    public static string RelativeChange(double ratio)
    {
        var percent = (ratio - 1) * 100;
        return string.Create(CultureInfo.InvariantCulture, $"{(percent >= 0 ? "+" : "−")}{Math.Abs(percent):F0}%");
    }

    private static void AppendSection(StringBuilder text, ResultSummary summary)
    {
        var result = summary.Result;
        text.Append(CultureInfo.InvariantCulture, $"### {result.Label}\n\n");
        text.Append(CultureInfo.InvariantCulture, $"{result.StartedAt:yyyy-MM-dd HH:mm} UTC");
        if (result.Commit is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $", commit `{result.Commit}`");
        }
        text.Append(CultureInfo.InvariantCulture, $"; {result.Machine.Describe()}");
        if (result.Link is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"; registry link: {result.Link}");
        }
        text.Append(CultureInfo.InvariantCulture, $". {result.Repetitions} cold run(s) per image and mode; median (min–max).\n\n");
        foreach (var mode in result.Modes)
        {
            text.Append(CultureInfo.InvariantCulture, $"* {mode.Name}: `{mode.PullCommand}`, snapshotter `{mode.Snapshotter}`\n");
        }
        text.Append('\n');

        var phases = Phase.All.Where(p => summary.Modes.Any(m => m[p] is not null)).ToList();
        text.Append("| image | mode | ").AppendJoin(" | ", phases.Select(p => p.Title)).Append(" | runs ok |\n");
        text.Append("|---|---|").AppendJoin("", phases.Select(_ => "---:|")).Append("---:|\n");
        foreach (var mode in summary.Modes)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {mode.Image} | {mode.Mode} | ")
                .AppendJoin(" | ", phases.Select(p => Cell(mode[p], p.Format)))
                .Append(CultureInfo.InvariantCulture, $" | {mode.Succeeded}/{mode.Succeeded + mode.Failed} |\n");
        }

        var comparisons = summary.Comparisons().ToList();
        if (comparisons.Count > 0)
        {
            text.Append("\n| image | mode | pull → ready vs overlayfs | start → ready vs overlayfs |\n|---|---|---:|---:|\n");
            foreach (var comparison in comparisons)
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"| {comparison.Image} | {comparison.Mode} | {(comparison.PullToReadySpeedup is { } s ? Speedup(s) : "–")} | {(comparison.StartToReadyRatio is { } r ? RelativeChange(r) : "–")} |\n");
            }
            var paired = comparisons.Where(c => c.PullToReadySpeedups.Count > 0).ToList();
            if (paired.Count > 0)
            {
                text.Append("\nPull → ready vs overlayfs per repetition (the runs of one repetition number paired):\n\n");
                foreach (var comparison in paired)
                {
                    text.Append(CultureInfo.InvariantCulture, $"* {comparison.Image} {comparison.Mode}: ")
                        .AppendJoin(", ", comparison.PullToReadySpeedups.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))
                        .Append("×\n");
                }
            }
        }
        var failures = result.Runs.Where(r => !r.Succeeded).ToList();
        if (failures.Count > 0)
        {
            text.Append("\nFailed runs (left out of the statistics):\n\n");
            foreach (var run in failures)
            {
                text.Append(CultureInfo.InvariantCulture, $"* {run.Image} {run.Mode} #{run.Repetition}: {run.Error?.ReplaceLineEndings(" ")}\n");
            }
        }
        text.Append('\n');
    }
}
