using Snapshotter.Daemon.WarmUp;

namespace Snapshotter.Daemon.Tests;

/// <summary>The warm-up pull runs the real pull path against its loopback registry, end to end.</summary>
public sealed class WarmUpTests
{
    [Fact]
    public async Task The_warm_up_pull_resolves_reads_the_toc_and_prefetches_verified_chunks()
    {
        var prefetched = await PullPathWarmUp.PullAsync(TestContext.Current.CancellationToken);
        // The marked chunks of three prioritized files, compressed: more than the small modules alone, less than the whole layer.
        Assert.InRange(prefetched, 10_000, 600_000);
    }

    [Fact]
    public async Task The_daemon_warms_up_before_it_serves()
    {
        using var directory = new Snapshotter.Testing.TempDirectory("warm-up");
        await using var daemon = await DaemonProcess.StartAsync(directory.Combine("root"), directory.Combine("s.sock"));
        var output = daemon.Process.Output;
        var warmed = output.IndexOf("Warm-up pull from a loopback registry done", StringComparison.Ordinal);
        Assert.True(warmed >= 0, output);
        Assert.True(warmed < output.IndexOf("Serving containerd snapshots API", StringComparison.Ordinal), output);
    }
}
