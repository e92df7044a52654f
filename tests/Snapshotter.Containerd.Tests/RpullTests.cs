using Snapshotter.Containerd;
using Snapshotter.Containerd.Pull;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Containerd.Tests;

/// <summary>
/// <c>stargzctl rpull</c> end to end: a real registry, containerd 1.6 and our daemon (FUSE). An eStargz
/// image is mounted lazily, a plain one fetched and applied, containers run on both, removal lets
/// containerd's GC clean up, and what is left in containerd matches what <c>ctr-remote image rpull</c> leaves.
/// </summary>
public sealed class RpullTests
{
    private const string Ours = "stargzctl";
    private const string Theirs = "ctr-remote";
    private const string TocDigest = "containerd.io/snapshot/stargz/toc.digest";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rpull_mounts_estargz_lazily_fetches_plain_layers_runs_both_and_leaves_what_ctr_remote_leaves()
    {
        Requirements.Tool("ctr-remote", "stargz-snapshotter");
        await using var environment = await RpullEnvironment.StartAsync(withDaemon: true);
        try
        {
            using var containerd = ContainerdClient.Connect(environment.Containerd.Address, Ours);

            // The eStargz image: every layer mounted by our daemon over FUSE, no layer blob downloaded.
            var lazy = (await environment.StargzctlAsync("rpull", "--namespace", Ours, environment.EstargzImage)).EnsureSuccess();
            Assert.Contains("3 layer(s) lazy, 0 fetched and applied (0 bytes)", lazy.StandardOutput);
            Assert.Equal(3, environment.FuseMounts().Count);
            var content = await environment.CtrAsync(Ours, "content", "ls", "-q");
            Assert.All(environment.EstargzLayers, layer => Assert.DoesNotContain(layer.Digest.Value, content));
            var image = await containerd.Images.GetAsync(environment.EstargzImage, Token);
            Assert.NotNull(image);
            Assert.Equal(environment.EstargzIndex.Digest, image.Target.Digest);
            Assert.Equal(MediaTypes.OciIndex, image.Target.MediaType);
            var esgzSnapshots = await SnapshotsAsync(containerd);
            Assert.Equal(3, esgzSnapshots.Count);
            Assert.All(esgzSnapshots.Values, s => Assert.Equal("remote snapshot", s.Labels["containerd.io/snapshot/remote"]));
            Assert.Equal(environment.EstargzLayers.Select(l => l.Annotation(TocDigest)).Order(), esgzSnapshots.Values.Select(s => s.Labels[TocDigest]).Order());

            // The plain image: the daemon cannot mount it, so stargzctl fetches and applies every layer.
            var plain = (await environment.StargzctlAsync("rpull", "--namespace", Ours, environment.PlainImage)).EnsureSuccess();
            Assert.Contains("0 layer(s) lazy, 3 fetched and applied", plain.StandardOutput);
            Assert.Equal(3, environment.FuseMounts().Count);
            foreach (var layer in environment.PlainLayers)
            {
                var info = await containerd.Content.InfoAsync(layer.Digest, Token);
                Assert.NotNull(info);
                Assert.StartsWith("sha256:", info.Labels[PullLabels.Uncompressed], StringComparison.Ordinal);
            }
            var allSnapshots = await SnapshotsAsync(containerd);
            Assert.Equal(6, allSnapshots.Count);
            Assert.Equal(3, allSnapshots.Values.Count(s => !s.Labels.ContainsKey("containerd.io/snapshot/remote")));
            Assert.Empty(await containerd.Leases.ListAsync(cancellationToken: Token));

            // Containers on both read the same files.
            var fromLazy = await environment.RunContainerAsync(Ours, environment.EstargzImage, "lazy-run",
                "/bin/sha256sum", "/www/blob.bin", "/bin/busybox", "/www/index.html");
            var fromPlain = await environment.RunContainerAsync(Ours, environment.PlainImage, "plain-run",
                "/bin/sha256sum", "/www/blob.bin", "/bin/busybox", "/www/index.html");
            Assert.Equal(3, fromLazy.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Equal(fromPlain, fromLazy);
            Assert.Contains("served from a lazily pulled eStargz image", await environment.RunContainerAsync(Ours,
                environment.EstargzImage, "lazy-cat", "/bin/cat", "/www/index.html"));

            var ours = await StateAsync(containerd);

            // Removing both images lets containerd's GC remove everything: snapshots (FUSE layers unmounted), content, no lease.
            await environment.CtrAsync(Ours, "images", "rm", "--sync", environment.EstargzImage, environment.PlainImage);
            await WaitAsync(() => Task.FromResult(environment.FuseMounts().Count == 0), "every FUSE layer unmounted after GC");
            Assert.Empty((await environment.CtrAsync(Ours, "content", "ls", "-q")).Trim());
            Assert.Empty(await SnapshotsAsync(containerd));
            Assert.Empty(await containerd.Leases.ListAsync(cancellationToken: Token));

            // The Go ctr-remote on the same image, from a clean state, in another namespace.
            await environment.Containerd.CtrRemoteAsync("-n", Theirs, "images", "rpull", "--plain-http", "--snapshotter", "stargz", environment.EstargzImage);
            var theirs = await StateAsync(containerd.WithNamespace(Theirs));
            Assert.Equal(3, environment.FuseMounts().Count);

            // Same image record, same content with the same labels (GC references, distribution source).
            var oursEsgz = ours.Image(environment.EstargzImage);
            Assert.Equal(theirs.Image(environment.EstargzImage).Target, oursEsgz.Target);
            var esgzContent = new[] { environment.EstargzIndex.Digest, environment.EstargzManifest.Digest, theirs.Config(environment.EstargzManifest.Digest) };
            Assert.Equal(theirs.Content.Keys.Select(d => d.Value).Order(), esgzContent.Select(d => d.Value).Order());
            foreach (var digest in esgzContent)
            {
                Assert.Equal(Sorted(theirs.Content[digest]), Sorted(ours.Content[digest]));
            }

            // Same snapshots (names, parents, kinds) with the same labels, but for ctr-remote's prefetch and
            // empty urls labels, the CRI family we add, and our reference pinned to the platform manifest.
            Assert.Equal(theirs.Snapshots.Keys.Order(), esgzSnapshots.Keys.Order());
            foreach (var (name, theirSnapshot) in theirs.Snapshots)
            {
                var ourSnapshot = esgzSnapshots[name];
                Assert.Equal((theirSnapshot.Parent, theirSnapshot.Kind), (ourSnapshot.Parent, ourSnapshot.Kind));
                var compared = theirSnapshot.Labels.Keys
                    .Where(k => k != PullLabels.StargzReference && !k.StartsWith("containerd.io/snapshot/remote/urls", StringComparison.Ordinal)
                        && k != "containerd.io/snapshot/remote/stargz.prefetch")
                    .ToList();
                Assert.True(compared.Count >= 5, string.Join(", ", compared));
                Assert.Equal(compared.Select(k => (k, (string?)theirSnapshot.Labels[k])), compared.Select(k => (k, ourSnapshot.Labels.GetValueOrDefault(k))));
                Assert.Equal($"{environment.EstargzImage}@{environment.EstargzManifest.Digest}", ourSnapshot.Labels[PullLabels.StargzReference]);
                Assert.Equal(environment.EstargzImage, theirSnapshot.Labels[PullLabels.StargzReference]);
                Assert.Equal(ourSnapshot.Labels[PullLabels.StargzLayers], ourSnapshot.Labels[PullLabels.CriImageLayers]);
            }
            Assert.Empty(await containerd.WithNamespace(Theirs).Leases.ListAsync(cancellationToken: Token));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{e.Message}\n--- containerd ---\n{environment.Containerd?.Log}\n--- daemon ---\n{environment.Daemon?.Log}", e);
        }
    }

    [Fact]
    public async Task Rpull_picks_the_platform_asked_for_and_a_second_rpull_finds_every_layer_present()
    {
        await using var environment = await RpullEnvironment.StartAsync(withDaemon: true);
        using var containerd = ContainerdClient.Connect(environment.Containerd.Address, Ours);

        // The other platform's manifest names the same layers: they are mounted lazily too.
        var other = environment.OtherPlatformManifest.Platform!.ToString();
        var pulled = (await environment.StargzctlAsync("rpull", "-n", Ours, "--platform", other, environment.EstargzImage)).EnsureSuccess();
        Assert.Contains($"manifest {environment.OtherPlatformManifest.Digest}", pulled.StandardOutput);
        Assert.NotNull(await containerd.Content.InfoAsync(environment.OtherPlatformManifest.Digest, Token));
        Assert.Null(await containerd.Content.InfoAsync(environment.EstargzManifest.Digest, Token));
        var snapshot = await containerd.Snapshots("stargz").ListAsync(cancellationToken: Token).FirstAsync(Token);
        Assert.Equal($"{environment.EstargzImage}@{environment.OtherPlatformManifest.Digest}", snapshot.Labels[PullLabels.StargzReference]);

        // Again, for this machine, in the same namespace: the layers' snapshots exist, nothing is prepared again.
        var again = (await environment.StargzctlAsync("rpull", "-n", Ours, environment.EstargzImage)).EnsureSuccess();
        Assert.Contains("0 layer(s) lazy, 0 fetched and applied (0 bytes), 3 already present", again.StandardOutput);
        Assert.Equal(environment.EstargzIndex.Digest, (await containerd.Images.GetAsync(environment.EstargzImage, Token))!.Target.Digest);
        Assert.Equal(3, environment.FuseMounts().Count);
    }

    [Fact]
    public async Task Rpull_failures_exit_with_a_clear_message_and_leave_no_lease_or_unfinished_snapshot()
    {
        await using var environment = await RpullEnvironment.StartAsync(withDaemon: false);
        using var containerd = ContainerdClient.Connect(environment.Containerd.Address);

        var usage = await environment.StargzctlAsync("rpull", "Not A Reference");
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("stargzctl: error: invalid image reference 'Not A Reference'", usage.StandardError);
        Assert.Equal(2, (await environment.StargzctlAsync("rpull")).ExitCode);
        Assert.Equal(2, (await environment.StargzctlAsync("rpull", "--platform", "a/b/c/d", environment.PlainImage)).ExitCode);

        var unreachable = await environment.StargzctlAsync("rpull", "127.0.0.1:1/nothing:here");
        Assert.Equal(1, unreachable.ExitCode);
        Assert.Contains("127.0.0.1:1", unreachable.StandardError);
        Assert.Contains("refused", unreachable.StandardError, StringComparison.OrdinalIgnoreCase);

        var missing = await environment.StargzctlAsync("rpull", $"{environment.Registry.Host}/sample:missing");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("not found", missing.StandardError);

        var noContainerd = await ProcessRunner.RunAsync("dotnet", [RepositoryPaths.Stargzctl, "rpull",
            "--address", Path.Combine(environment.Containerd.State, "absent.sock"), environment.PlainImage]);
        Assert.Equal(1, noContainerd.ExitCode);
        Assert.Contains("containerd is not reachable", noContainerd.StandardError);

        // A layer blob the registry lost: the pull fails on it, naming it, after the first layer was applied.
        var lost = environment.PlainLayers[1].Digest;
        File.Delete(Path.Combine(environment.Registry.RootDirectory, "docker", "registry", "v2", "blobs", "sha256", lost.Hex[..2], lost.Hex, "data"));
        var broken = await environment.StargzctlAsync("rpull", "--snapshotter", "overlayfs", environment.PlainImage);
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains(lost.Value, broken.StandardError);
        Assert.Contains("layer 1/3", broken.StandardOutput);
        Assert.Empty(await containerd.Leases.ListAsync(cancellationToken: Token));
        var snapshots = await containerd.Snapshots("overlayfs").ListAsync(cancellationToken: Token).ToListAsync(Token);
        Assert.DoesNotContain(snapshots, s => s.Kind != SnapshotKind.Committed);
        // With the lease gone nothing holds the applied first layer: containerd's GC removes it.
        // A synchronous lease delete runs a collection now; the scheduled one may lag on a loaded machine.
        var trigger = await containerd.Leases.CreateAsync(cancellationToken: Token);
        await containerd.Leases.DeleteAsync(trigger.Id, sync: true, Token);
        await WaitAsync(async () => !await containerd.Snapshots("overlayfs").ListAsync(cancellationToken: Token).AnyAsync(Token),
            "the GC to remove the orphaned layer snapshot");
        Assert.Null(await containerd.Images.GetAsync(environment.PlainImage, Token));
    }

    private static async Task<Dictionary<string, SnapshotRecord>> SnapshotsAsync(ContainerdClient containerd) =>
        (await containerd.Snapshots("stargz").ListAsync(cancellationToken: Token).ToListAsync(Token)).ToDictionary(s => s.Name);

    private static async Task<State> StateAsync(ContainerdClient containerd) => new(
        (await containerd.Images.ListAsync(cancellationToken: Token)).ToDictionary(i => i.Name),
        (await containerd.Content.ListAsync(cancellationToken: Token).ToListAsync(Token)).ToDictionary(c => c.Digest, c => c.Labels),
        await SnapshotsAsync(containerd));

    private static List<KeyValuePair<string, string>> Sorted(IReadOnlyDictionary<string, string> labels) =>
        labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToList();

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting: {what}");
            await Task.Delay(200, Token);
        }
    }

    /// <summary>What a namespace of containerd holds after a pull.</summary>
    private sealed record State(
        Dictionary<string, ImageRecord> Images,
        Dictionary<Digest, IReadOnlyDictionary<string, string>> Content,
        Dictionary<string, SnapshotRecord> Snapshots)
    {
        public ImageRecord Image(string name) => Images[name];

        /// <summary>The config digest a stored manifest names (its GC reference label).</summary>
        public Digest Config(Digest manifest) => Digest.Parse(Content[manifest]["containerd.io/gc.ref.content.config"]);
    }
}
