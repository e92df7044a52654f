using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// End to end: containerd 1.6 with our daemon as proxy snapshotter "stargz", against containerd's own
/// overlayfs snapshotter. Needs root, containerd, runc and umoci.
/// </summary>
public sealed class ContainerdTests
{
    private const string Image = "registry.test/sample:sample";
    private const string Script = "cat /www/index.html /etc/passwd; sha256sum /www/blob.bin; ls /bin; echo written >/w; cat /w";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_imported_image_runs_on_our_snapshotter_like_on_overlayfs_across_a_daemon_crash()
    {
        Requirements.Root();
        Requirements.Tool("umoci", "umoci");
        Requirements.Tool("runc", "runc");
        using var directory = new TempDirectory("daemon-e2e");
        var layout = directory.Combine("layout");
        await ProcessRunner.OutputOfAsync(Path.Combine(DaemonProcess.RepositoryRoot, "script", "build-sample-image.sh"), layout);
        var archive = directory.Combine("sample.tar");
        await ProcessRunner.OutputOfAsync("tar", "-C", layout, "-cf", archive, ".");

        var root = directory.Combine("root");
        await using var daemon = await DaemonProcess.StartAsync(root, directory.Combine("stargz.sock"));
        await using var containerd = await ContainerdFixture.StartAsync(new Dictionary<string, string> { ["stargz"] = daemon.Address });
        try
        {
            await containerd.CtrAsync("images", "import", "--base-name", "registry.test/sample", "--snapshotter", "stargz", archive);
            Assert.Contains(Image, await containerd.CtrAsync("images", "ls", "-q"));
            var committed = await containerd.CtrAsync("snapshots", "--snapshotter", "stargz", "ls");
            Assert.Equal(3, committed.Split('\n').Count(l => l.Contains("Committed", StringComparison.Ordinal)));
            Assert.Equal(3, Directory.GetDirectories(Path.Combine(root, "snapshots")).Length);

            // A crash between pull and run: the records and layers are still there afterwards.
            await daemon.CrashAndRestartAsync();
            // containerd's gRPC client reconnects with backoff and fails fast (Unavailable) until then.
            var reconnect = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            ProcessResult listed;
            while ((listed = await containerd.RunAsync("ctr", ["snapshots", "--snapshotter", "stargz", "ls"])).ExitCode != 0 && DateTime.UtcNow < reconnect)
            {
                await Task.Delay(500, Token);
            }
            Assert.Equal(committed, listed.EnsureSuccess().StandardOutput);

            var ours = await containerd.RunContainerAsync("stargz", Image, "on-stargz", ["/bin/sh", "-c", Script]);
            var theirs = await containerd.RunContainerAsync("overlayfs", Image, "on-overlayfs", ["/bin/sh", "-c", Script]);
            Assert.Contains("served from a lazily pulled eStargz image", ours);
            Assert.Contains("busybox", ours);
            Assert.EndsWith("written", ours.TrimEnd());
            Assert.Equal(theirs, ours);

            // Removing the image lets containerd's GC remove our snapshots (Remove, then Cleanup).
            await containerd.CtrAsync("images", "rm", "--sync", Image);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (Directory.GetDirectories(Path.Combine(root, "snapshots")).Length > 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, Token);
            }
            Assert.Empty(Directory.GetDirectories(Path.Combine(root, "snapshots")));
            Assert.DoesNotContain("Committed", await containerd.CtrAsync("snapshots", "--snapshotter", "stargz", "ls"));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{e.Message}\n--- daemon ---\n{daemon.Process.Output}\n--- containerd ---\n{containerd.Log}", e);
        }
    }
}
