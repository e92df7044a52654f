using Snapshotter.Daemon.WarmUp;

namespace Snapshotter.Daemon.Tests;

/// <summary>The warm-up pull runs the real pull path against its loopback registry, end to end.</summary>
public sealed class WarmUpTests
{
    [Fact]
    public async Task The_warm_up_pull_resolves_reads_the_toc_and_prefetches_verified_chunks()
    {
        var prefetched = await PullPathWarmUp.PullAsync(null, TestContext.Current.CancellationToken);
        // The marked chunks of three prioritized files, compressed: more than the small modules alone, less than the whole layer.
        Assert.InRange(prefetched, 10_000, 600_000);
    }

    [Fact]
    public async Task Given_a_directory_it_also_mounts_reads_and_copies_the_layer_and_leaves_nothing_behind()
    {
        Snapshotter.Testing.Requirements.Root();
        Snapshotter.Testing.Requirements.Fuse();
        using var directory = new Snapshotter.Testing.TempDirectory("warm-up-mount");
        var warmUp = directory.Combine("warm-up");
        Directory.CreateDirectory(Path.Combine(warmUp, "stale")); // a crash's leftovers go too

        Assert.InRange(await PullPathWarmUp.PullAsync(warmUp, TestContext.Current.CancellationToken), 10_000, 600_000);

        Assert.False(Directory.Exists(warmUp));
        Assert.Empty(Snapshotter.Testing.Mounts.Under(directory.Path));
    }

    [Fact]
    public async Task The_daemon_warms_up_before_it_serves()
    {
        using var directory = new Snapshotter.Testing.TempDirectory("warm-up");
        await using var daemon = await DaemonProcess.StartAsync(directory.Combine("root"), directory.Combine("s.sock"));
        var output = daemon.Process.Output;
        var warmed = output.IndexOf("Warm-up pull from a loopback registry done", StringComparison.Ordinal);
        Assert.True(warmed >= 0, output);
        var called = output.IndexOf("Warm-up calls of the snapshots API done", StringComparison.Ordinal);
        Assert.True(warmed < called, output);
        Assert.True(called < output.IndexOf("Serving containerd snapshots API", StringComparison.Ordinal), output);
    }
}
