using System.Globalization;
using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Running;

/// <summary>
/// Every repetition of every image in every mode, each on a fresh cold environment. Modes and
/// images are interleaved within a repetition so that drift in the machine's load touches all of
/// them alike. The JSON is rewritten after each run, so an interrupted benchmark keeps its runs.
/// </summary>
internal sealed class ReadinessBenchmark(BenchmarkSettings settings, TextWriter progress)
{
    public async Task<BenchmarkResult> RunAsync(string jsonPath, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var result = new BenchmarkResult
        {
            Label = settings.Label ?? settings.Commit ?? startedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
            Commit = settings.Commit,
            Link = settings.Link,
            StartedAt = startedAt,
            Machine = await HostInfo.DescribeAsync(settings, cancellationToken),
            Repetitions = settings.Repetitions,
            Images = settings.Images,
            Modes = settings.Modes,
        };
        var logs = Path.Combine(settings.WorkDirectory, "logs");
        Directory.CreateDirectory(logs);
        using var probe = new ReadinessProbe();
        var total = settings.Repetitions * settings.Images.Count * settings.Modes.Count;
        var number = 0;
        for (var repetition = 1; repetition <= settings.Repetitions; repetition++)
        {
            foreach (var image in settings.Images)
            {
                foreach (var mode in settings.Modes)
                {
                    number++;
                    var name = string.Create(CultureInfo.InvariantCulture, $"run-{number:D3}-{image.Name}-{mode.Name}");
                    progress.Write(string.Create(CultureInfo.InvariantCulture, $"[{number}/{total}] {image.Name} {mode.Name} #{repetition}: "));
                    var record = await MeasureOnColdNodeAsync(image, mode, repetition, name, Path.Combine(logs, name + "-"), probe, cancellationToken);
                    result.Runs.Add(record);
                    progress.WriteLine(Describe(record));
                    await ResultsJson.WriteAsync(result, jsonPath, cancellationToken);
                }
            }
        }
        return result;
    }

    private async Task<RunRecord> MeasureOnColdNodeAsync(
        ImageSpec image, PullMode mode, int repetition, string name, string logPrefix, ReadinessProbe probe, CancellationToken cancellationToken)
    {
        try
        {
            await using var environment = await ColdEnvironment.StartAsync(settings, Path.Combine(settings.WorkDirectory, name), logPrefix, cancellationToken);
            return await new ReadinessRun(settings, environment, probe).MeasureAsync(image, mode, repetition, cancellationToken);
        }
        catch (Exception e) when (e is CommandFailedException or TimeoutException or IOException)
        {
            return new RunRecord { Image = image.Name, Mode = mode.Name, Repetition = repetition, LoadAverage = HostInfo.LoadAverage(), Error = e.Message };
        }
    }

    private static string Describe(RunRecord run) => run.Succeeded
        ? FormattableString.Invariant($"pull {run.PullSeconds:F2} s, start→ready {run.StartToReadySeconds:F2} s, pull→ready {run.PullToReadySeconds:F2} s")
            + (run.RegistryBytes is { } bytes ? FormattableString.Invariant($", {bytes / 1e6:F1} MB from the registry") : "")
            + (run.LazyLayers > 0 ? FormattableString.Invariant($", {run.LazyLayers} lazy layers") : "")
        : "FAILED: " + run.Error;
}
