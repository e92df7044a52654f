using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Tests;

/// <summary>Results built in code for the reporting tests: two images, both modes, known figures.</summary>
internal static class SampleResults
{
    public static BenchmarkResult TwoImages(string label = "abc1234")
    {
        var result = new BenchmarkResult
        {
            Label = label,
            Commit = "abc1234",
            Link = "150mbit, 10 ms each way",
            StartedAt = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero),
            Machine = new MachineInfo("AMD EPYC", 2, 24, "6.18", "Debian GNU/Linux 12 (bookworm)", new Dictionary<string, string> { ["containerd"] = "1.6.20" }),
            Repetitions = 3,
            Images =
            [
                ImageSpec.Parse("name=python,plain=r:5000/python:plain,lazy=r:5000/python:esgz,url=http://127.0.0.1:18481/"),
                ImageSpec.Parse("name=nginx,plain=r:5000/nginx:plain,lazy=r:5000/nginx:esgz,url=http://127.0.0.1:18480/"),
            ],
            Modes = [PullMode.Overlayfs(), PullMode.Lazy()],
        };
        // python: overlayfs pull→ready 10, 11, 12 (start→ready 0.3); lazy 2, 2.2, 1.8 (start→ready 0.4, pull 1.6).
        foreach (var (pullToReady, repetition) in new[] { (11.0, 1), (10.0, 2), (12.0, 3) })
        {
            result.Runs.Add(Run("python", PullMode.OverlayfsName, repetition, pullToReady - 0.3, 0.3, 110_000_000));
        }
        foreach (var (pullToReady, repetition) in new[] { (2.0, 1), (2.2, 2), (1.8, 3) })
        {
            result.Runs.Add(Run("python", PullMode.LazyName, repetition, pullToReady - 0.4, 0.4, 40_000_000) with { LazyLayers = 3 });
        }
        result.Runs.Add(Run("nginx", PullMode.OverlayfsName, 1, 4, 0.2, 60_000_000));
        result.Runs.Add(Run("nginx", PullMode.LazyName, 1, 1, 0.5, 8_000_000));
        result.Runs.Add(new RunRecord { Image = "nginx", Mode = PullMode.LazyName, Repetition = 2, PullSeconds = 9, Error = "http://127.0.0.1:18480/ did not answer 200 within 300 s" });
        return result;
    }

    private static RunRecord Run(string image, string mode, int repetition, double pull, double startToReady, long bytes) => new()
    {
        Image = image,
        Mode = mode,
        Repetition = repetition,
        PullSeconds = pull,
        StartSeconds = startToReady / 2,
        StartToReadySeconds = startToReady,
        PullToReadySeconds = pull + startToReady,
        RegistryBytes = bytes,
        LoadAverage = 0.5,
    };
}
