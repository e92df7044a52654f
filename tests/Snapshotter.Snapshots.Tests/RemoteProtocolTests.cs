using Snapshotter.Snapshots;
using Snapshotter.Testing;
using static Snapshotter.Snapshots.Tests.Assertions;

namespace Snapshotter.Snapshots.Tests;

/// <summary>
/// The remote-snapshot protocol (protocols.md §4.5 points 2–4, 8–10) against a real mounting
/// <see cref="IRemoteFileSystem"/> (tmpfs filled from a tar): needs root for mount(2).
/// </summary>
public sealed class RemoteProtocolTests
{
    private const string Layer1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private const string Layer2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    private static CancellationToken Token => Harness.Token;

    private static Dictionary<string, string> PullLabels(string chainId, string layerDigest, string family = TarLayerRemoteFileSystem.CriLayerDigest) => new()
    {
        [SnapshotLabels.TargetRef] = chainId,
        [family] = layerDigest,
        ["containerd.io/snapshot/cri.image-ref"] = "registry.test/sample:1",
    };

    private static async Task<(Harness Harness, TarLayerRemoteFileSystem Remote)> StartAsync(bool writesLocalCopies = false)
    {
        Requirements.Root();
        Requirements.Tool("tar", "tar");
        var remote = new TarLayerRemoteFileSystem { WritesLocalCopies = writesLocalCopies };
        var harness = new Harness(remote);
        foreach (var (digest, file, content) in new[] { (Layer1, "one.txt", "layer one"), (Layer2, "two.txt", "layer two") })
        {
            var source = Path.Combine(harness.Scratch, digest[7..15]);
            Directory.CreateDirectory(Path.Combine(source, "data"));
            await File.WriteAllTextAsync(Path.Combine(source, "data", file), content, Token);
            var blob = source + ".tar";
            await ProcessRunner.OutputOfAsync("tar", "-cf", blob, "-C", source, "data");
            remote.Serve(digest, blob);
        }
        return (harness, remote);
    }

    /// <summary>containerd's unpack of both layers, each mounted remotely and answered with already-exists.</summary>
    private static async Task PullBothLayersAsync(Harness h)
    {
        await ThrowsSnapshot(SnapshotError.AlreadyExists,
            () => h.Snapshotter.PrepareAsync("default/1/extract-1 chain1", "", PullLabels("chain1", Layer1), Token));
        await ThrowsSnapshot(SnapshotError.AlreadyExists,
            () => h.Snapshotter.PrepareAsync("default/2/extract-2 chain2", "chain1", PullLabels("chain2", Layer2), Token));
    }

    [Fact]
    public async Task A_served_layer_is_mounted_committed_under_its_chain_id_and_answered_with_already_exists()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;

        await ThrowsSnapshot(SnapshotError.AlreadyExists,
            () => h.Snapshotter.PrepareAsync("default/1/extract-1 chain1", "", PullLabels("chain1", Layer1), Token));

        var info = await h.Snapshotter.StatAsync("chain1", Token);
        Assert.Equal(SnapshotKind.Committed, info.Kind);
        Assert.Equal("chain1", info.Labels[SnapshotLabels.TargetRef]);
        Assert.Equal(SnapshotLabels.RemoteValue, info.Labels[SnapshotLabels.Remote]);
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.StatAsync("default/1/extract-1 chain1", Token));
        var mountpoint = Assert.Single(remote.Mounted);
        Assert.Equal("layer one", await File.ReadAllTextAsync(Path.Combine(mountpoint, "data", "one.txt"), Token));

        // containerd's next step: find it by label and (empty) parent.
        var found = await h.Snapshotter.ListAsync(["""labels."containerd.io/snapshot.ref"==chain1,parent=="" """.Trim()], Token);
        Assert.Equal("chain1", Assert.Single(found).Name);

        // The second layer on top, with ctr-remote's label family this time.
        await ThrowsSnapshot(SnapshotError.AlreadyExists,
            () => h.Snapshotter.PrepareAsync("default/2/extract-2 chain2", "chain1", PullLabels("chain2", Layer2, TarLayerRemoteFileSystem.StargzDigest), Token));
        found = await h.Snapshotter.ListAsync(["""labels."containerd.io/snapshot.ref"==chain2,parent==chain1"""], Token);
        Assert.Equal(SnapshotKind.Committed, Assert.Single(found).Kind);

        // A second pull of the same layer is answered without mounting again.
        await ThrowsSnapshot(SnapshotError.AlreadyExists,
            () => h.Snapshotter.PrepareAsync("default/3/extract-3 chain1", "", PullLabels("chain1", Layer1), Token));
        Assert.Equal(2, remote.Mounted.Count);

        // The container rootfs: every remote ancestor is checked, the overlay stacks the mounted layers.
        var mounts = await h.Snapshotter.PrepareAsync("container", "chain2", new Dictionary<string, string>(), Token);
        Assert.Equal(remote.Mounted.Reverse(), remote.Checked);
        var lower = Assert.Single(mounts[0].Options, o => o.StartsWith("lowerdir=", StringComparison.Ordinal));
        Assert.Equal("lowerdir=" + string.Join(':', remote.Mounted.Reverse()), lower);
    }

    [Fact]
    public async Task Each_remote_prepare_hands_the_filesystem_its_remote_ancestors_before_containerd_hears_of_it()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;
        await PullBothLayersAsync(h);
        // Already there: nothing mounted, nothing prepared.
        await ThrowsSnapshot(SnapshotError.AlreadyExists,
            () => h.Snapshotter.PrepareAsync("default/3/extract-3 chain2", "chain1", PullLabels("chain2", Layer2), Token));

        var (fs1, fs2) = (remote.Mounted.First(), remote.Mounted.Last());
        Assert.Equal([(fs1, Array.Empty<string>()), (fs2, [fs1])], remote.Prepared.Select(p => (p.Mountpoint, p.RemoteAncestors)),
            (a, b) => a.Item1 == b.Item1 && a.Item2.SequenceEqual(b.Item2));
    }

    [Fact]
    public async Task Local_copies_directories_exist_before_each_mount_and_are_stacked_right_above_it()
    {
        var (h, remote) = await StartAsync(writesLocalCopies: true);
        await using var _ = h;
        await PullBothLayersAsync(h);
        Assert.Equal([true, true], remote.LocalCopiesFound);
        var (fs1, fs2) = (remote.Mounted.First(), remote.Mounted.Last());
        var (local1, local2) = (IRemoteFileSystem.LocalCopiesOf(fs1), IRemoteFileSystem.LocalCopiesOf(fs2));

        var mounts = await h.Snapshotter.PrepareAsync("container", "chain2", Harness.NoLabels, Token);
        Assert.Contains($"lowerdir={local2}:{fs2}:{local1}:{fs1}", mounts[0].Options);
        // A view of one remote layer is an overlay of its copies and its mount, not a bind mount of the mount alone.
        var view = Assert.Single(await h.Snapshotter.ViewAsync("view", "chain1", Harness.NoLabels, Token));
        Assert.Equal("overlay", view.Type);
        Assert.Equal([$"lowerdir={local1}:{fs1}"], view.Options.Where(o => !o.StartsWith("index=", StringComparison.Ordinal)));

        var rootfs = Path.Combine(h.Scratch, "rootfs");
        Directory.CreateDirectory(rootfs);
        (await ProcessRunner.RunAsync("mount", ["-t", "overlay", "overlay", "-o", string.Join(',', mounts[0].Options), rootfs], cancellationToken: Token)).EnsureSuccess();
        try
        {
            Assert.Equal("layer one", await File.ReadAllTextAsync(Path.Combine(rootfs, "data", "one.txt"), Token));
            Assert.Equal("layer two", await File.ReadAllTextAsync(Path.Combine(rootfs, "data", "two.txt"), Token));
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", [rootfs], cancellationToken: CancellationToken.None);
        }

        await h.Snapshotter.RemoveAsync("container", Token);
        await h.Snapshotter.RemoveAsync("chain2", Token);
        Assert.False(Directory.Exists(local2));

        // A layer the filesystem refuses leaves no local copies directory behind it.
        var fallback = await h.Snapshotter.PrepareAsync("extract-x chainX", "", PullLabels("chainX", "sha256:" + new string('9', 64)), Token);
        Assert.False(Directory.Exists(IRemoteFileSystem.LocalCopiesOf(fallback[0].Source)));
    }

    [Fact]
    public async Task Without_a_served_layer_or_a_remote_label_family_prepare_falls_back_to_a_normal_snapshot()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;

        // Unknown layer: the filesystem refuses, the active snapshot is returned for a normal pull.
        var unknown = "sha256:" + new string('9', 64);
        var mounts = await h.Snapshotter.PrepareAsync("extract-a chainX", "", PullLabels("chainX", unknown), Token);
        Assert.Equal("bind", Assert.Single(mounts).Type);
        Assert.Empty(Mounts.Under(mounts[0].Source));
        Assert.Equal(SnapshotKind.Active, (await h.Snapshotter.StatAsync("extract-a chainX", Token)).Kind);
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.StatAsync("chainX", Token));

        // A target ref alone (containerd's internal calls) never asks the lazy filesystem.
        var plain = await h.Snapshotter.PrepareAsync("extract-b chainY", "", new Dictionary<string, string> { [SnapshotLabels.TargetRef] = "chainY" }, Token);
        Assert.Equal("bind", Assert.Single(plain).Type);
        Assert.Empty(remote.Mounted);
    }

    [Fact]
    public async Task A_broken_remote_ancestor_makes_the_rootfs_unavailable()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;
        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.PrepareAsync("extract-1", "", PullLabels("chain1", Layer1), Token));
        remote.Break(Assert.Single(remote.Mounted));

        await ThrowsSnapshot(SnapshotError.Unavailable, () => h.Snapshotter.PrepareAsync("container", "chain1", new Dictionary<string, string>(), Token));
        await ThrowsSnapshot(SnapshotError.Unavailable, () => h.Snapshotter.ViewAsync("view", "chain1", new Dictionary<string, string>(), Token));
    }

    [Fact]
    public async Task Remove_unmounts_and_deletes_a_remote_snapshot()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;
        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.PrepareAsync("extract-1", "", PullLabels("chain1", Layer1), Token));
        var mountpoint = Assert.Single(remote.Mounted);

        await h.Snapshotter.RemoveAsync("chain1", Token);

        Assert.Equal(mountpoint, Assert.Single(remote.Unmounted));
        Assert.Empty(Mounts.Under(mountpoint));
        Assert.False(Directory.Exists(Path.GetDirectoryName(mountpoint)));
        Assert.True(File.Exists(Path.Combine(h.Scratch, "11111111.tar")), "the layer's source must survive removal");
    }

    [Fact]
    public async Task Restart_detaches_leftovers_and_remounts_remote_snapshots_from_their_labels()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;
        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.PrepareAsync("extract-1", "", PullLabels("chain1", Layer1), Token));
        var mountpoint = Assert.Single(remote.Mounted);
        // A leftover that no record explains, as a crashed daemon leaves behind.
        var stray = Path.Combine(h.Root, "snapshots", "12345");
        Directory.CreateDirectory(stray);
        await ProcessRunner.OutputOfAsync("mount", "-t", "tmpfs", "tmpfs", stray);

        await h.ReopenAsync();

        Assert.Equal(2, remote.Mounted.Count);
        Assert.Equal([mountpoint], Mounts.Under(Path.Combine(h.Root, "snapshots")));
        Assert.Equal("layer one", await File.ReadAllTextAsync(Path.Combine(mountpoint, "data", "one.txt"), Token));
        await h.Snapshotter.PrepareAsync("container", "chain1", new Dictionary<string, string>(), Token);
    }

    [Fact]
    public async Task A_remote_snapshot_that_cannot_be_restored_fails_the_start_unless_allowed()
    {
        var (h, remote) = await StartAsync();
        await using var _ = h;
        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.PrepareAsync("extract-1", "", PullLabels("chain1", Layer1), Token));
        remote.Serve(Layer1, Path.Combine(h.Scratch, "gone.tar"));

        await Assert.ThrowsAsync<InvalidOperationException>(() => h.ReopenAsync());
        await h.ReopenAsync(allowInvalidMountsOnRestart: true);

        Assert.Empty(Mounts.Under(Path.Combine(h.Root, "snapshots")));
        Assert.Equal(SnapshotKind.Committed, (await h.Snapshotter.StatAsync("chain1", Token)).Kind);
        await h.Snapshotter.RemoveAsync("chain1", Token);
    }
}
