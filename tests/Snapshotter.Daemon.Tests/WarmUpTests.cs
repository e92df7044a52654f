using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Daemon.WarmUp;
using Snapshotter.Fuse.Handover;

namespace Snapshotter.Daemon.Tests;

/// <summary>The warm-up pull runs the real pull path against its loopback registry, end to end.</summary>
public sealed class WarmUpTests
{
    [Fact]
    public async Task The_warm_up_pull_resolves_reads_the_toc_and_prefetches_verified_chunks()
    {
        var prefetched = await PullPathWarmUp.PullAsync(null, null, TestContext.Current.CancellationToken);
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

        Assert.InRange(await PullPathWarmUp.PullAsync(warmUp, null, TestContext.Current.CancellationToken), 10_000, 600_000);

        Assert.False(Directory.Exists(warmUp));
        Assert.Empty(Snapshotter.Testing.Mounts.Under(directory.Path));
    }

    [Fact]
    public async Task Given_the_daemons_handover_the_mount_is_kept_there_while_it_lasts_and_then_forgotten()
    {
        Snapshotter.Testing.Requirements.Root();
        Snapshotter.Testing.Requirements.Fuse();
        using var directory = new Snapshotter.Testing.TempDirectory("warm-up-handover");
        var store = new RecordingFdStore();
        using var handover = new FuseHandover(store, directory.Combine("handover"), NullLogger.Instance);

        await PullPathWarmUp.PullAsync(directory.Combine("warm-up"), handover, TestContext.Current.CancellationToken);

        var kept = Assert.Single(store.Stored.Distinct());
        Assert.StartsWith(FuseHandover.NamePrefix, kept, StringComparison.Ordinal);
        Assert.Equal([kept], store.Removed);
        Assert.Empty(Directory.EnumerateFiles(directory.Combine("handover")));
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

    /// <summary>Names stored and removed, in order; keeps no descriptors (the warm-up's process outlives its mount).</summary>
    private sealed class RecordingFdStore : IFdStore
    {
        public List<string> Stored { get; } = [];

        public List<string> Removed { get; } = [];

        public IReadOnlyDictionary<string, IReadOnlyList<int>> Inherited { get; } = new Dictionary<string, IReadOnlyList<int>>();

        public void Store(string name, IReadOnlyList<int> descriptors) => Stored.Add(name);

        public void Remove(string name) => Removed.Add(name);

        public void Dispose()
        {
        }
    }
}
