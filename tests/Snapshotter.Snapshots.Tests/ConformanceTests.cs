using Snapshotter.Snapshots;
using static Snapshotter.Snapshots.Tests.Assertions;

namespace Snapshotter.Snapshots.Tests;

/// <summary>containerd snapshotter semantics, as containerd's own overlayfs snapshotter behaves.</summary>
public sealed class ConformanceTests
{
    private static CancellationToken Token => Harness.Token;

    private static Dictionary<string, string> Labels(params (string Key, string Value)[] labels) =>
        labels.ToDictionary(l => l.Key, l => l.Value);

    [Fact]
    public async Task Parentless_prepare_is_a_writable_bind_mount_of_its_fs_directory()
    {
        await using var h = new Harness();
        var mounts = await h.Snapshotter.PrepareAsync("a", "", Labels(("l", "v")), Token);

        var mount = Assert.Single(mounts);
        Assert.Equal("bind", mount.Type);
        Assert.Equal(["rw", "rbind"], mount.Options);
        Assert.Matches($"^{h.Root}/snapshots/[0-9]+/fs$", mount.Source);
        Assert.True(Directory.Exists(mount.Source));
        Assert.True(Directory.Exists(Path.Combine(Path.GetDirectoryName(mount.Source)!, "work")));

        var info = await h.Snapshotter.StatAsync("a", Token);
        Assert.Equal(SnapshotKind.Active, info.Kind);
        Assert.Equal("", info.Parent);
        Assert.Equal("v", info.Labels["l"]);
        Assert.Equal(h.Time.GetUtcNow(), info.Created);
        Assert.Equal(info.Created, info.Updated);
    }

    [Fact]
    public async Task Child_of_a_chain_is_an_overlay_with_lower_dirs_nearest_first()
    {
        await using var h = new Harness();
        var fs1 = await h.CommitLayerAsync("l1", "", new Dictionary<string, string> { ["a"] = "1" });
        var fs2 = await h.CommitLayerAsync("l2", "l1", new Dictionary<string, string> { ["b"] = "2" });

        var mounts = await h.Snapshotter.PrepareAsync("container", "l2", Harness.NoLabels, Token);

        var mount = Assert.Single(mounts);
        Assert.Equal("overlay", mount.Type);
        Assert.Equal("overlay", mount.Source);
        var fs = Path.Combine(h.Root, "snapshots", h.IdOf("container").ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains($"workdir={fs}/work", mount.Options);
        Assert.Contains($"upperdir={fs}/fs", mount.Options);
        Assert.Contains($"lowerdir={fs2}:{fs1}", mount.Options);
        Assert.Equal("l2", (await h.Snapshotter.StatAsync("container", Token)).Parent);
        // Committed snapshots keep their directory: the committed fs is the old upper dir.
        Assert.Equal("1", await File.ReadAllTextAsync(Path.Combine(fs1, "a"), Token));
    }

    [Fact]
    public async Task Views_are_read_only_binds_for_one_parent_and_lower_only_overlays_for_more()
    {
        await using var h = new Harness();
        var fs1 = await h.CommitLayerAsync("l1", "");
        var fs2 = await h.CommitLayerAsync("l2", "l1");

        var single = Assert.Single(await h.Snapshotter.ViewAsync("v1", "l1", Harness.NoLabels, Token));
        Assert.Equal(new SnapshotMount("bind", fs1, ["ro", "rbind"]).Type, single.Type);
        Assert.Equal(fs1, single.Source);
        Assert.Equal(["ro", "rbind"], single.Options);

        var overlay = Assert.Single(await h.Snapshotter.ViewAsync("v2", "l2", Harness.NoLabels, Token));
        Assert.Equal("overlay", overlay.Type);
        Assert.Contains($"lowerdir={fs2}:{fs1}", overlay.Options);
        Assert.DoesNotContain(overlay.Options, o => o.StartsWith("upperdir=", StringComparison.Ordinal) || o.StartsWith("workdir=", StringComparison.Ordinal));

        var empty = Assert.Single(await h.Snapshotter.ViewAsync("v0", "", Harness.NoLabels, Token));
        Assert.Equal("bind", empty.Type);
        Assert.Equal(["ro", "rbind"], empty.Options);

        Assert.Equal(SnapshotKind.View, (await h.Snapshotter.StatAsync("v2", Token)).Kind);
        Assert.Equal(overlay.Options, Assert.Single(await h.Snapshotter.MountsAsync("v2", Token)).Options);
    }

    [Fact]
    public async Task Commit_moves_an_active_snapshot_to_its_name_and_replaces_its_labels()
    {
        await using var h = new Harness();
        await h.Snapshotter.PrepareAsync("key", "", Labels(("old", "1")), Token);
        h.Time.Advance(TimeSpan.FromMinutes(1));
        await h.Snapshotter.CommitAsync("name", "key", Labels(("new", "2")), Token);

        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.StatAsync("key", Token));
        var info = await h.Snapshotter.StatAsync("name", Token);
        Assert.Equal(SnapshotKind.Committed, info.Kind);
        Assert.Equal(Labels(("new", "2")), info.Labels);
        Assert.Equal(h.Time.GetUtcNow(), info.Created);
    }

    [Fact]
    public async Task Commit_errors_follow_containerd()
    {
        await using var h = new Harness();
        await h.CommitLayerAsync("base", "");
        await h.Snapshotter.ViewAsync("view", "base", Harness.NoLabels, Token);
        await h.Snapshotter.PrepareAsync("active", "", Harness.NoLabels, Token);

        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.CommitAsync("x", "missing", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.FailedPrecondition, () => h.Snapshotter.CommitAsync("x", "view", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.FailedPrecondition, () => h.Snapshotter.CommitAsync("x", "base", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.CommitAsync("base", "active", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.CommitAsync("", "active", Harness.NoLabels, Token));
        // The refused commits changed nothing.
        Assert.Equal(SnapshotKind.Active, (await h.Snapshotter.StatAsync("active", Token)).Kind);
    }

    [Fact]
    public async Task Prepare_errors_follow_containerd()
    {
        await using var h = new Harness();
        await h.Snapshotter.PrepareAsync("active", "", Harness.NoLabels, Token);

        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.PrepareAsync("active", "", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.AlreadyExists, () => h.Snapshotter.ViewAsync("active", "", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.PrepareAsync("child", "missing", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.PrepareAsync("child", "active", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.PrepareAsync("", "", Harness.NoLabels, Token));
        await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.PrepareAsync("big", "", Labels(("k", new string('v', 4096))), Token));
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.MountsAsync("missing", Token));
        await h.CommitLayerAsync("committed", "");
        await ThrowsSnapshot(SnapshotError.FailedPrecondition, () => h.Snapshotter.MountsAsync("committed", Token));
        await h.Snapshotter.RemoveAsync("committed", Token);
        // Refused creations leave no record and no directory behind.
        Assert.Single(await h.Snapshotter.ListAsync([], Token));
        Assert.Single(Directory.GetDirectories(Path.Combine(h.Root, "snapshots")));
    }

    [Fact]
    public async Task Remove_refuses_parents_and_deletes_leaves_with_their_directory()
    {
        await using var h = new Harness();
        var fs1 = await h.CommitLayerAsync("l1", "");
        await h.Snapshotter.PrepareAsync("child", "l1", Harness.NoLabels, Token);
        var childFs = h.Fs("child");

        await ThrowsSnapshot(SnapshotError.FailedPrecondition, () => h.Snapshotter.RemoveAsync("l1", Token));
        await h.Snapshotter.RemoveAsync("child", Token);
        Assert.False(Directory.Exists(Path.GetDirectoryName(childFs)));
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.StatAsync("child", Token));
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.RemoveAsync("child", Token));

        await h.Snapshotter.RemoveAsync("l1", Token);
        Assert.False(Directory.Exists(fs1));
        Assert.Empty(await h.Snapshotter.ListAsync([], Token));
    }

    [Fact]
    public async Task Update_changes_labels_by_field_path_and_nothing_else()
    {
        await using var h = new Harness();
        await h.CommitLayerAsync("s", "", labels: Labels(("a", "1"), ("b", "2"), ("c", "3")));
        var created = (await h.Snapshotter.StatAsync("s", Token)).Created;
        h.Time.Advance(TimeSpan.FromHours(1));

        SnapshotInfo Request(params (string, string)[] labels) =>
            new("s", "ignored-parent", SnapshotKind.View, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, Labels(labels));

        var updated = await h.Snapshotter.UpdateAsync(Request(("a", "10"), ("z", "26")), ["labels.a", "labels.b"], Token);
        Assert.Equal(Labels(("a", "10"), ("c", "3")), updated.Labels); // b not in the request: removed; z not in the mask
        Assert.Equal(SnapshotKind.Committed, updated.Kind);
        Assert.Equal("", updated.Parent);
        Assert.Equal(created, updated.Created);
        Assert.Equal(h.Time.GetUtcNow(), updated.Updated);

        updated = await h.Snapshotter.UpdateAsync(Request(("x", "1")), ["labels"], Token);
        Assert.Equal(Labels(("x", "1")), updated.Labels);

        updated = await h.Snapshotter.UpdateAsync(Request(("y", "2"), ("empty", "")), [], Token);
        Assert.Equal(Labels(("y", "2")), updated.Labels);
        var stat = await h.Snapshotter.StatAsync("s", Token);
        Assert.Equal(updated.Labels, stat.Labels);
        Assert.Equal(updated.Updated, stat.Updated);

        await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.UpdateAsync(Request(), ["name"], Token));
        await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.UpdateAsync(Request(), ["parent"], Token));
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.UpdateAsync(Request() with { Name = "nope" }, [], Token));
    }

    [Fact]
    public async Task Usage_is_live_for_active_snapshots_and_stored_at_commit()
    {
        await using var h = new Harness();
        var mounts = await h.Snapshotter.PrepareAsync("a", "", Harness.NoLabels, Token);
        await File.WriteAllBytesAsync(Path.Combine(mounts[0].Source, "f1"), new byte[1000], Token);
        Directory.CreateDirectory(Path.Combine(mounts[0].Source, "d"));
        await File.WriteAllBytesAsync(Path.Combine(mounts[0].Source, "d", "f2"), new byte[234], Token);

        Assert.Equal(new SnapshotUsage(1234, 4), await h.Snapshotter.UsageAsync("a", Token));
        await h.Snapshotter.CommitAsync("c", "a", Harness.NoLabels, Token);
        File.Delete(Path.Combine(mounts[0].Source, "f1")); // committed usage is what was committed
        Assert.Equal(new SnapshotUsage(1234, 4), await h.Snapshotter.UsageAsync("c", Token));
        await ThrowsSnapshot(SnapshotError.NotFound, () => h.Snapshotter.UsageAsync("a", Token));
    }

    [Fact]
    public async Task List_filters_use_containerd_syntax()
    {
        await using var h = new Harness();
        await h.CommitLayerAsync("sha256:p", "", labels: Labels(("containerd.io/snapshot.ref", "sha256:p")));
        await h.CommitLayerAsync("sha256:c", "sha256:p", labels: Labels(("containerd.io/snapshot.ref", "sha256:c"), ("team", "a b")));
        await h.Snapshotter.PrepareAsync("default/3/extract-1 sha256:d", "sha256:c", Labels(("containerd.io/snapshot.ref", "sha256:d")), Token);
        await h.Snapshotter.ViewAsync("view", "sha256:p", Harness.NoLabels, Token);

        async Task<string[]> Names(params string[] filters) =>
            (await h.Snapshotter.ListAsync(filters, Token)).Select(i => i.Name).Order(StringComparer.Ordinal).ToArray();

        Assert.Equal(4, (await Names()).Length);
        Assert.Equal(["sha256:c"], await Names("""labels."containerd.io/snapshot.ref"==sha256:c,parent==sha256:p"""));
        Assert.Equal(["sha256:c"], await Names("""labels."containerd.io/snapshot.ref"=="sha256:c",parent=="sha256:p" """));
        Assert.Empty(await Names("""labels."containerd.io/snapshot.ref"==sha256:c,parent==sha256:x"""));
        Assert.Equal(["sha256:c", "sha256:p"], await Names("kind==committed"));
        Assert.Equal(["default/3/extract-1 sha256:d"], await Names("kind==active"));
        Assert.Equal(["view"], await Names("kind==view"));
        Assert.Equal(["sha256:c", "sha256:p"], await Names("kind==committed|kind==nothing"));
        Assert.Equal(["sha256:p", "view"], await Names("name==sha256:p", "name==view")); // several filters: or
        Assert.Equal(["sha256:p", "view"], await Names("name==sha256:p|name==view"));
        Assert.Equal(["sha256:c", "view"], await Names("parent==sha256:p"));
        Assert.Equal(["sha256:p"], await Names("parent==\"\""));
        Assert.Equal(4, (await Names("name,parent")).Length); // always present, even when empty
        Assert.Equal(["default/3/extract-1 sha256:d", "sha256:c", "view"], await Names("parent~=^sha256:[cp]$"));
        Assert.Equal(["default/3/extract-1 sha256:d"], await Names("parent~=^sha256:c$,kind==active"));
        Assert.Equal(["default/3/extract-1 sha256:d", "sha256:c", "sha256:p"], await Names("""labels."containerd.io/snapshot.ref" """));
        Assert.Equal(["default/3/extract-1 sha256:d", "sha256:c"], await Names("""labels."containerd.io/snapshot.ref"!=sha256:p"""));
        Assert.Equal(["sha256:c"], await Names("""labels.team=="a b" """));
        Assert.Equal(["default/3/extract-1 sha256:d"], await Names("""name=="default/3/extract-1 sha256:d" """));

        foreach (var malformed in new[] { "labels.", "name==", "==x", "name==\"open", "name==a,", "name==a b", "parent~=(" })
        {
            await ThrowsSnapshot(SnapshotError.InvalidArgument, () => h.Snapshotter.ListAsync([malformed], Token));
        }
    }

    [Fact]
    public async Task Records_survive_a_reopen_of_the_store()
    {
        await using var h = new Harness();
        await h.CommitLayerAsync("l1", "", new Dictionary<string, string> { ["f"] = "x" }, Labels(("k", "v")));
        await h.Snapshotter.PrepareAsync("a", "l1", Harness.NoLabels, Token);
        var before = (await h.Snapshotter.ListAsync([], Token)).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
        var mountsBefore = await h.Snapshotter.MountsAsync("a", Token);

        await h.ReopenAsync();

        var after = (await h.Snapshotter.ListAsync([], Token)).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(before.Count, after.Count);
        for (var i = 0; i < before.Count; i++)
        {
            Assert.Equal(before[i] with { Labels = null! }, after[i] with { Labels = null! });
            Assert.Equal(before[i].Labels, after[i].Labels);
        }
        Assert.Equal(mountsBefore[0].Options, (await h.Snapshotter.MountsAsync("a", Token))[0].Options);
        Assert.Equal("ok", h.Snapshotter.CheckMetadataIntegrity());
        // New ids never collide with old directories.
        await h.Snapshotter.PrepareAsync("b", "l1", Harness.NoLabels, Token);
        Assert.NotEqual(h.IdOf("a"), h.IdOf("b"));
    }

    [Fact]
    public async Task Cleanup_removes_directories_without_records_only()
    {
        await using var h = new Harness();
        await h.CommitLayerAsync("l1", "");
        var snapshots = Path.Combine(h.Root, "snapshots");
        Directory.CreateDirectory(Path.Combine(snapshots, "999", "fs"));
        Directory.CreateDirectory(Path.Combine(snapshots, "new-leftover", "fs"));

        await h.Snapshotter.CleanupAsync(Token);

        Assert.False(Directory.Exists(Path.Combine(snapshots, "999")));
        Assert.False(Directory.Exists(Path.Combine(snapshots, "new-leftover")));
        var kept = Assert.Single(Directory.GetDirectories(snapshots));
        Assert.True(Directory.Exists(Path.Combine(kept, "fs")));
        Assert.Equal(SnapshotKind.Committed, (await h.Snapshotter.StatAsync("l1", Token)).Kind);
    }
}
