using System.Globalization;
using ScottPlot;
using SkiaSharp;
using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Reporting;

/// <summary>
/// One panel per image (their scales differ by an order of magnitude): per result set and mode a
/// bar of the median pull with the median start → ready stacked on it, a whisker over the min–max
/// of pull → ready, and its median written above; the x axis names the modes, so no legend. Saved as PNG and SVG.
/// </summary>
internal static class ReadinessChart
{
    private const int PanelWidth = 460;
    private const int Height = 440;

    private static readonly Dictionary<string, Color> ModeColors = new(StringComparer.Ordinal)
    {
        [PullMode.OverlayfsName] = Color.FromHex("#6b7280"),
        [PullMode.LazyName] = Color.FromHex("#2563eb"),
        [PullMode.LazyOptimizedName] = Color.FromHex("#059669"),
    };

    /// <summary>
    /// Skia here has no fontconfig, so a family name alone falls back to a serif face; DejaVu Sans
    /// (Debian's default) is loaded from its file when present.
    /// </summary>
    private static readonly string FontName = LoadFont("DejaVu Sans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf");

    public static void Save(IReadOnlyList<ResultSummary> summaries, string pngPath, string svgPath)
    {
        var images = summaries.SelectMany(s => s.Result.Images.Select(i => i.Name)).Distinct(StringComparer.Ordinal).ToList();
        var plots = images.Select(image => Panel(image, summaries)).ToList();
        var multiplot = new Multiplot(plots[0]) { Layout = new ScottPlot.MultiplotLayouts.Columns() };
        foreach (var plot in plots.Skip(1))
        {
            multiplot.AddPlot(plot);
        }
        var width = PanelWidth * plots.Count;
        multiplot.SavePng(pngPath, width, Height);
        using (var stream = File.Create(svgPath))
        using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, Height), stream))
        {
            multiplot.Render(canvas, new PixelRect(0, width, Height, 0));
        }
        foreach (var plot in plots)
        {
            plot.Dispose();
        }
    }

    private static Plot Panel(string image, IReadOnlyList<ResultSummary> summaries)
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(image);
        plot.YLabel("seconds (median)");
        plot.XLabel("dark: pull, light: start → ready; whisker: min–max of pull → ready", 12);
        var ticks = new List<Tick>();
        var top = 0.0;
        var position = 0.0;
        foreach (var summary in summaries)
        {
            foreach (var mode in summary.Modes.Where(m => m.Image == image))
            {
                var color = ModeColors.GetValueOrDefault(mode.Mode, Color.FromHex("#9333ea"));
                var pull = mode[Phase.Pull]?.Median ?? 0;
                var startToReady = mode[Phase.StartToReady]?.Median ?? 0;
                plot.Add.Bars(new[]
                {
                    new Bar { Position = position, ValueBase = 0, Value = pull, FillColor = color, Size = 0.8 },
                    new Bar { Position = position, ValueBase = pull, Value = pull + startToReady, FillColor = color.WithAlpha(0.4), Size = 0.8 },
                });
                if (mode[Phase.PullToReady] is { } total)
                {
                    var whisker = plot.Add.ErrorBar([position], [total.Median], [total.Median - total.Min]);
                    whisker.YErrorPositive = [total.Max - total.Median];
                    whisker.Color = Colors.Black;
                    var label = plot.Add.Text(string.Create(CultureInfo.InvariantCulture, $"{total.Median:F1} s"), position, Math.Max(total.Max, pull + startToReady));
                    label.LabelAlignment = Alignment.LowerCenter;
                    label.LabelFontSize = 13;
                    top = Math.Max(top, total.Max);
                }
                top = Math.Max(top, pull + startToReady);
                ticks.Add(new Tick(position, summaries.Count > 1 ? $"{mode.Mode}\n{summary.Result.Label}" : mode.Mode));
                position += 1;
            }
            position += 0.5;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.HideGrid();
        plot.Axes.SetLimits(-0.75, position - 0.75, 0, Math.Max(top, 0.1) * 1.3);
        return plot;
    }

    private static string LoadFont(string name, string regular, string bold)
    {
        if (!File.Exists(regular) || !File.Exists(bold))
        {
            return Fonts.Default;
        }
        Fonts.AddFontFile(name, regular, bold: false, italic: false);
        Fonts.AddFontFile(name, bold, bold: true, italic: false);
        return name;
    }
}
