using System.Diagnostics;
using System.Globalization;
using Snapshotter.Benchmark.Model;

namespace Snapshotter.Benchmark.Running;

/// <summary>
/// One measured run on a cold environment: pull with the mode's command, <c>ctr run -d</c> with
/// host networking, and poll the image's URL until the first HTTP 200. The container is removed
/// afterwards whatever happened.
/// </summary>
internal sealed class ReadinessRun(BenchmarkSettings settings, ColdEnvironment environment, ReadinessProbe probe)
{
    public async Task<RunRecord> MeasureAsync(ImageSpec image, PullMode mode, int repetition, CancellationToken cancellationToken)
    {
        var record = new RunRecord { Image = image.Name, Mode = mode.Name, Repetition = repetition, LoadAverage = HostInfo.LoadAverage() };
        var reference = mode.ReferenceOf(image) ?? throw new ArgumentException($"{mode.Name} has no image for {image.Name}", nameof(mode));
        var containerId = string.Create(CultureInfo.InvariantCulture, $"bench-{image.Name}-{mode.Name}-{repetition}-{Environment.ProcessId}");
        if (await probe.IsReadyAsync(image.ReadyUrl, cancellationToken))
        {
            return record with { Error = $"{image.ReadyUrl} answers before the container started: something else serves it" };
        }
        var bytesBefore = settings.LinkInterface is { } link ? HostInfo.ReceivedBytes(link) : 0;
        var pullStart = Stopwatch.GetTimestamp();
        record = record with { PullStartedAt = DateTimeOffset.UtcNow };
        var started = false;
        try
        {
            var pull = CommandTemplate.Expand(mode.PullCommand, new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["address"] = environment.ContainerdAddress,
                ["hosts"] = settings.HostsDirectory,
                ["snapshotter"] = mode.Snapshotter,
                ["ref"] = reference,
            });
            (await ExternalCommand.RunAsync(pull, settings.PullTimeout, cancellationToken)).ThrowIfFailed();
            record = record with { PullSeconds = Stopwatch.GetElapsedTime(pullStart).TotalSeconds };

            var runStart = Stopwatch.GetTimestamp();
            using var stopProbe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var firstOk = probe.WaitForFirstOkAsync(image.ReadyUrl, settings.ReadyTimeout, stopProbe.Token);
            started = true;
            var run = await ExternalCommand.RunAsync(
                [settings.Ctr, "--address", environment.ContainerdAddress, "run", "-d", "--net-host", "--snapshotter", mode.Snapshotter,
                 reference, containerId, .. image.Command],
                settings.ReadyTimeout, cancellationToken);
            if (run.ExitCode != 0)
            {
                await stopProbe.CancelAsync();
                await Task.WhenAny(firstOk);
                run.ThrowIfFailed();
            }
            record = record with { StartSeconds = Stopwatch.GetElapsedTime(runStart).TotalSeconds };
            var ready = await firstOk;
            record = record with
            {
                StartToReadySeconds = Stopwatch.GetElapsedTime(runStart, ready).TotalSeconds,
                PullToReadySeconds = Stopwatch.GetElapsedTime(pullStart, ready).TotalSeconds,
                RegistryBytes = settings.LinkInterface is { } counted ? HostInfo.ReceivedBytes(counted) - bytesBefore : null,
                LazyLayers = MountTable.FuseMountsUnder(environment.SnapshotterRoot),
            };
        }
        catch (Exception e) when (e is CommandFailedException or TimeoutException or FormatException)
        {
            record = record with { Error = e.Message };
        }
        finally
        {
            if (started)
            {
                await RemoveContainerAsync(containerId);
            }
        }
        return record;
    }

    /// <summary>Kills and deletes the task, then the container; a shim left running would outlive containerd.</summary>
    private async Task RemoveContainerAsync(string containerId)
    {
        IReadOnlyList<string> Ctr(params string[] args) => [settings.Ctr, "--address", environment.ContainerdAddress, .. args];
        var limit = TimeSpan.FromSeconds(30);
        await ExternalCommand.RunAsync(Ctr("tasks", "rm", "--force", containerId), limit, CancellationToken.None);
        await ExternalCommand.RunAsync(Ctr("containers", "rm", containerId), limit, CancellationToken.None);
    }
}
