using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Reporting;

/// <summary>The Markdown table and the chart of one or more results, written beside each other.</summary>
internal static class ReportFiles
{
    public sealed record Written(string Markdown, string Png, string Svg);

    public static async Task<Written> WriteAsync(IReadOnlyList<BenchmarkResult> results, string directory, string baseName, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var summaries = results.Select(ResultSummary.Of).ToList();
        var written = new Written(
            Path.Combine(directory, baseName + ".md"), Path.Combine(directory, baseName + ".png"), Path.Combine(directory, baseName + ".svg"));
        var measured = summaries.Any(s => s.Modes.Any(m => m.Succeeded > 0));
        if (measured)
        {
            ReadinessChart.Save(summaries, written.Png, written.Svg);
        }
        await File.WriteAllTextAsync(written.Markdown, MarkdownReport.Render(summaries, measured ? Path.GetFileName(written.Svg) : null), cancellationToken);
        return written;
    }
}
