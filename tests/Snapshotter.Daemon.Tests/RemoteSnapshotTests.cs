using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Snapshotter.Snapshots;
using Snapshotter.Snapshots.Tests;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// The remote-snapshot protocol end to end with containerd 1.6 pulling from a real registry: the
/// daemon is hosted in-process with a real test <see cref="IRemoteFileSystem"/> (tmpfs filled from
/// the layer blob) put in through the DI registration meant for the lazy filesystem.
/// </summary>
public sealed class RemoteSnapshotTests
{
    private const string CriLayerDigest = TarLayerRemoteFileSystem.CriLayerDigest;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Containerd_pulls_without_fetching_layers_runs_checks_restores_after_restart_and_removes()
    {
        Requirements.Root();
        Requirements.Tool("umoci", "umoci");
        Requirements.Tool("skopeo", "skopeo");
        Requirements.Tool("docker-registry", "docker-registry");
        Requirements.Tool("runc", "runc");
        using var directory = new TempDirectory("daemon-remote");
        var layout = directory.Combine("layout");
        await ProcessRunner.OutputOfAsync(Path.Combine(DaemonProcess.RepositoryRoot, "script", "build-sample-image.sh"), layout);
        var layers = AnnotateLayers(layout);
        Assert.Equal(3, layers.Count);

        await using var registry = await DockerRegistryFixture.StartAsync();
        var image = $"{registry.Host}/sample:1";
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{layout}:sample", $"docker://{image}");

        var remote = new TarLayerRemoteFileSystem();
        foreach (var digest in layers)
        {
            remote.Serve(digest, Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]));
        }
        var config = new DaemonConfig
        {
            // In-process: nothing runs the descriptor holder; RestartTests covers keeping mounts.
            Restart = new RestartConfig { FdStore = FdStoreKind.None },
            Root = directory.Combine("root"),
            Address = directory.Combine("stargz.sock"),
            LogLevel = Microsoft.Extensions.Logging.LogLevel.Debug,
        };
        var daemon = await InProcessDaemon.StartAsync(config, remote);
        try
        {
            await using var containerd = await ContainerdFixture.StartAsync(new Dictionary<string, string> { ["stargz"] = config.Address });
            try
            {
                // ctr 1.6 fetches everything and unpacks without labels; ctr-remote rpull goes through containerd's
                // unpacker with the remote-snapshot labels, as CRI does.
                await containerd.CtrRemoteAsync("images", "rpull", "--plain-http", "--snapshotter", "stargz", image);

                // Every layer became a remote snapshot; containerd never downloaded a layer blob.
                Assert.Equal(3, remote.Mounted.Count);
                var content = await containerd.CtrAsync("content", "ls", "-q");
                Assert.All(layers, layer => Assert.DoesNotContain(layer, content));
                var snapshots = await containerd.CtrAsync("snapshots", "--snapshotter", "stargz", "ls");
                Assert.Equal(3, snapshots.Split('\n').Count(l => l.Contains("Committed", StringComparison.Ordinal)));

                // Restart between pull and run: leftovers detached, every remote snapshot mounted again from its labels.
                await daemon.DisposeAsync();
                daemon = await InProcessDaemon.StartAsync(config, remote);
                Assert.Equal(6, remote.Mounted.Count);
                Assert.Equal(3, Mounts.Under(Path.Combine(config.Root, "snapshots")).Count);
                await WaitForReconnectAsync(containerd);

                var checksBefore = remote.Checked.Count;
                var output = await containerd.RunContainerAsync("stargz", image, "remote-run", ["/bin/sh", "-c",
                    "cat /www/index.html /etc/passwd; ls /bin | head -3"]);
                Assert.Contains("served from a lazily pulled eStargz image", output);
                Assert.Contains("root:x:0:0", output);
                Assert.True(remote.Checked.Count - checksBefore >= 3, "each remote ancestor is checked before the rootfs is handed out");

                // A broken layer: the rootfs is refused (Unavailable), not handed out.
                remote.Break(remote.Mounted.Last());
                var refused = await containerd.RunAsync("ctr", ["run", "--snapshotter", "stargz", "--rm", image, "broken-run", "/bin/true"]);
                Assert.NotEqual(0, refused.ExitCode);
                Assert.True(refused.StandardError.Contains("unavailable", StringComparison.OrdinalIgnoreCase), refused.StandardError);

                // GC: Remove unmounts every remote layer.
                await containerd.CtrAsync("images", "rm", "--sync", image);
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (Mounts.Under(Path.Combine(config.Root, "snapshots")).Count > 0 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200, Token);
                }
                Assert.Empty(Mounts.Under(Path.Combine(config.Root, "snapshots")));
                Assert.True(remote.Unmounted.Count >= 3);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidOperationException($"{e.Message}\n--- containerd ---\n{containerd.Log}", e);
            }
        }
        finally
        {
            await daemon.DisposeAsync();
            await Mounts.DetachAllUnderAsync(directory.Path);
        }
    }

    internal static async Task WaitForReconnectAsync(ContainerdFixture containerd)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        ProcessResult listed;
        while ((listed = await containerd.RunAsync("ctr", ["snapshots", "--snapshotter", "stargz", "ls"])).ExitCode != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500, Token);
        }
        listed.EnsureSuccess();
    }

    /// <summary>
    /// Adds <c>containerd.io/snapshot/cri.layer-digest</c> to every layer descriptor of the layout's
    /// manifest (containerd forwards <c>containerd.io/snapshot/</c> annotations as Prepare labels) and
    /// returns the layer digests.
    /// </summary>
    private static List<string> AnnotateLayers(string layout)
    {
        var indexPath = Path.Combine(layout, "index.json");
        var index = JsonNode.Parse(File.ReadAllText(indexPath))!;
        var descriptor = index["manifests"]![0]!;
        var manifestPath = Path.Combine(layout, "blobs", "sha256", descriptor["digest"]!.GetValue<string>()["sha256:".Length..]);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        var digests = new List<string>();
        foreach (var layer in manifest["layers"]!.AsArray())
        {
            var digest = layer!["digest"]!.GetValue<string>();
            digests.Add(digest);
            var annotations = layer["annotations"] as JsonObject ?? new JsonObject();
            annotations[CriLayerDigest] = digest;
            layer["annotations"] = annotations;
        }
        var bytes = System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var newDigest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", newDigest), bytes);
        descriptor["digest"] = "sha256:" + newDigest;
        descriptor["size"] = bytes.Length;
        File.WriteAllText(indexPath, index.ToJsonString());
        return digests;
    }
}

/// <summary>The daemon host in this process, with its own or a replaced <see cref="IRemoteFileSystem"/>.</summary>
internal sealed class InProcessDaemon : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    private InProcessDaemon(WebApplication app)
    {
        _app = app;
        _run = DaemonHost.RunAsync(app, _stop.Token);
    }

    /// <summary>Starts the daemon; with <paramref name="remote"/> null it keeps the real wiring (the eStargz FUSE filesystem).</summary>
    public static async Task<InProcessDaemon> StartAsync(DaemonConfig config, IRemoteFileSystem? remote)
    {
        var app = DaemonHost.Build(config, remote is null ? null : services => services.AddSingleton(remote));
        var daemon = new InProcessDaemon(app);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (daemon._run.IsCompleted)
            {
                await daemon._run; // throws the start failure
                throw new InvalidOperationException("the daemon stopped before serving");
            }
            if (File.Exists(config.Address))
            {
                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(config.Address));
                    return daemon;
                }
                catch (SocketException)
                {
                    // not listening yet
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the in-process daemon did not start serving");
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_run.IsCompleted)
        {
            await _stop.CancelAsync();
            await _run;
        }
        await _app.DisposeAsync();
        _stop.Dispose();
    }
}
