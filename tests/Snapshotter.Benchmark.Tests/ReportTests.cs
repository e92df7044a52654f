using Snapshotter.Benchmark.Model;
using Snapshotter.Benchmark.Reporting;
using Snapshotter.Testing;

namespace Snapshotter.Benchmark.Tests;

public sealed class ReportTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Summary_takes_median_min_max_per_image_and_mode_from_successful_runs_only()
    {
        var summary = ResultSummary.Of(SampleResults.TwoImages());

        var python = summary.Find("python", PullMode.OverlayfsName)!;
        Assert.Equal((11.0, 10.0, 12.0), (python[Phase.PullToReady]!.Median, python[Phase.PullToReady]!.Min, python[Phase.PullToReady]!.Max));
        Assert.Equal(110.0, python[Phase.RegistryMegabytes]!.Median, 6);
        var nginxLazy = summary.Find("nginx", PullMode.LazyName)!;
        Assert.Equal((1, 1), (nginxLazy.Succeeded, nginxLazy.Failed));
        Assert.Equal(1.0, nginxLazy[Phase.Pull]!.Median); // the failed run's 9 s pull is left out
    }

    [Fact]
    public void Comparison_is_overlayfs_over_lazy_for_pull_to_ready_and_lazy_over_overlayfs_for_start_to_ready()
    {
        var python = ResultSummary.Of(SampleResults.TwoImages()).Comparisons().Single(c => c.Image == "python");
        Assert.Equal(PullMode.LazyName, python.Mode);
        Assert.Equal(11.0 / 2.0, python.PullToReadySpeedup!.Value, 9);
        Assert.Equal(0.4 / 0.3, python.StartToReadyRatio!.Value, 9);
        Assert.Equal([11.0 / 2.0, 10.0 / 2.2, 12.0 / 1.8], python.PullToReadySpeedups, (a, b) => Math.Abs(a - b) < 1e-9);
    }

    [Fact]
    public void Per_repetition_speedups_pair_runs_by_repetition_and_leave_out_a_pair_with_a_failed_run()
    {
        var nginx = ResultSummary.Of(SampleResults.TwoImages()).Comparisons().Single(c => c.Image == "nginx");
        Assert.Equal([4.2 / 1.5], nginx.PullToReadySpeedups, (a, b) => Math.Abs(a - b) < 1e-9); // repetition 2 failed lazily
    }

    [Theory]
    [InlineData(5.5, "5.5× faster")]
    [InlineData(1.0, "1.0× faster")]
    [InlineData(0.5, "2.0× slower")]
    public void Speedup_reads_as_faster_or_slower(double ratio, string text)
    {
        Assert.Equal(text, MarkdownReport.Speedup(ratio));
    }

    [Theory]
    [InlineData(1.333, "+33%")]
    [InlineData(0.8, "−20%")]
    [InlineData(1.0, "+0%")]
    public void Relative_change_has_a_sign(double ratio, string text)
    {
        Assert.Equal(text, MarkdownReport.RelativeChange(ratio));
    }

    [Fact]
    public void A_cell_is_median_then_min_max_or_a_dash_when_nothing_was_measured()
    {
        Assert.Equal("11.00 (10.00–12.00)", MarkdownReport.Cell(new Statistics(11, 10, 12, 3), "F2"));
        Assert.Equal("4.0", MarkdownReport.Cell(new Statistics(4, 4, 4, 1), "F1"));
        Assert.Equal("–", MarkdownReport.Cell(null, "F2"));
    }

    [Fact]
    public void Markdown_names_where_and_how_it_was_measured_and_has_a_row_per_image_and_mode()
    {
        var markdown = MarkdownReport.Render([ResultSummary.Of(SampleResults.TwoImages())], "readiness.svg");
        var lines = markdown.Split('\n');

        Assert.Contains("### abc1234", lines);
        Assert.Contains("commit `abc1234`", markdown);
        Assert.Contains("registry link: 150mbit, 10 ms each way", markdown);
        Assert.Contains("2 × AMD EPYC, 24 GiB", markdown);
        Assert.Contains("| image | mode | pull (s) | start → ready (s) | pull → ready (s) | from registry (MB) | runs ok |", lines);
        Assert.Contains("| python | overlayfs | 10.70 (9.70–11.70) | 0.30 (0.30–0.30) | 11.00 (10.00–12.00) | 110.0 (110.0–110.0) | 3/3 |", lines);
        Assert.Contains("| nginx | lazy | 1.00 | 0.50 | 1.50 | 8.0 | 1/2 |", lines);
        Assert.Contains("| python | lazy | 5.5× faster | +33% |", lines);
        Assert.Contains("* python lazy: 5.50, 4.55, 6.67×", lines);
        Assert.Contains("* nginx lazy: 2.80×", lines);
        Assert.Contains("* nginx lazy #2: http://127.0.0.1:18480/ did not answer 200 within 300 s", lines);
        Assert.Contains("![pull and start-to-ready times, median with min–max whiskers](readiness.svg)", lines);
    }

    [Fact]
    public async Task Json_round_trips_every_field_and_leaves_out_what_was_not_measured()
    {
        using var directory = new TempDirectory("bench-json");
        var path = directory.Combine("readiness.json");
        var written = SampleResults.TwoImages();

        await ResultsJson.WriteAsync(written, path, Token);
        var read = await ResultsJson.ReadAsync(path, Token);

        var json = await File.ReadAllTextAsync(path, Token);
        Assert.Contains("\"pullToReadySeconds\": 11", json);
        Assert.Contains("\"plainRef\": \"r:5000/python:plain\"", json);
        Assert.DoesNotContain("\"startSeconds\": null", json);
        Assert.False(File.Exists(path + ".tmp"));
        Assert.Equal(written.Runs, read.Runs);
        Assert.Equal((written.Label, written.Commit, written.Link, written.StartedAt, written.Repetitions), (read.Label, read.Commit, read.Link, read.StartedAt, read.Repetitions));
        Assert.Equal(written.Images.Select(i => (i.Name, i.PlainRef, i.LazyRef, i.ReadyUrl)), read.Images.Select(i => (i.Name, i.PlainRef, i.LazyRef, i.ReadyUrl)));
        Assert.Equal(written.Modes, read.Modes);
        Assert.Equal(written.Machine.Tools, read.Machine.Tools);
    }

    [Fact]
    public async Task Json_of_another_schema_is_refused()
    {
        using var directory = new TempDirectory("bench-json");
        var path = directory.Combine("old.json");
        await ResultsJson.WriteAsync(SampleResults.TwoImages() with { Schema = 99 }, path, Token);
        var error = await Assert.ThrowsAsync<System.Text.Json.JsonException>(() => ResultsJson.ReadAsync(path, Token));
        Assert.Contains("schema 99", error.Message);
    }

    [Fact]
    public async Task Report_files_are_a_png_an_svg_and_markdown_linking_the_chart()
    {
        using var directory = new TempDirectory("bench-report");

        var written = await ReportFiles.WriteAsync([SampleResults.TwoImages("before"), SampleResults.TwoImages("after")], directory.Path, "compare", Token);

        var png = await File.ReadAllBytesAsync(written.Png, Token);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        var svg = System.Xml.Linq.XDocument.Load(written.Svg);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        var texts = svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();
        Assert.Contains("python", texts);
        Assert.Contains("nginx", texts);
        Assert.Contains("11.0 s", texts);
        var markdown = await File.ReadAllTextAsync(written.Markdown, Token);
        Assert.Contains("### before", markdown);
        Assert.Contains("### after", markdown);
        Assert.Contains("(compare.svg)", markdown);
    }

    [Fact]
    public async Task Without_a_successful_run_there_is_no_chart_and_no_link_to_one()
    {
        using var directory = new TempDirectory("bench-report");
        var result = SampleResults.TwoImages();
        var failedOnly = result with { Runs = [.. result.Runs.Where(r => !r.Succeeded)] };

        var written = await ReportFiles.WriteAsync([failedOnly], directory.Path, "readiness", Token);

        Assert.False(File.Exists(written.Png));
        Assert.DoesNotContain("![", await File.ReadAllTextAsync(written.Markdown, Token));
    }
}
