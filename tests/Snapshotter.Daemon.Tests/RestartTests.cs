using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// Restart without breaking running containers (the real executable, our descriptor holder, a real
/// registry, containerd and a container): a container reads lazily pulled files in a loop while
/// the daemon is killed with SIGKILL, started again, then stopped with SIGTERM and started again.
/// Every read succeeds with the right bytes; reads made while no daemon runs wait for the next one.
/// </summary>
public sealed partial class RestartTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_reading_container_sees_every_read_succeed_across_a_kill_9_and_a_sigterm_restart_of_the_daemon()
    {
        RequireRealComponents();
        using var directory = new TempDirectory("daemon-restart");
        await using var registry = await DockerRegistryFixture.StartAsync();
        var image = await PublishSampleImageAsync(directory, registry, "restart:1");

        // No background fetch and no prefetch: what the container reads after a restart is served by
        // the new daemon from the chunk cache or the registry, never by a layer already local.
        var config = directory.Combine("stargz.toml");
        await File.WriteAllTextAsync(config, """
            [restart]
            fd_store = "holder"

            [prefetch]
            enable = false

            [background_fetch]
            enable = false
            """, Token);
        var root = directory.Combine("root");
        var daemon = await DaemonProcess.StartAsync(root, directory.Combine("stargz.sock"), "--config", config);
        int? holder = null;
        BackgroundProcess? reader = null;
        await using var containerd = await ContainerdFixture.StartAsync(new Dictionary<string, string> { ["stargz"] = daemon.Address });
        try
        {
            await containerd.CtrRemoteAsync("images", "rpull", "--plain-http", "--snapshotter", "stargz", image);
            var mounts = FuseMountIds(root);
            Assert.Equal(3, mounts.Count);
            holder = HolderPid(daemon.Process.Output);

            // Every round opens both files again (through overlayfs, an OPEN reaches the daemon each time).
            reader = new BackgroundProcess("ctr", ["--address", containerd.Address, "run", "--rm", "--snapshotter", "stargz", image, "restart-reader",
                "/bin/sh", "-c", "i=0; while :; do sha256sum /www/blob.bin /bin/busybox || echo READ-FAILED; echo round $i; i=$((i+1)); sleep 0.05; done"]);
            await WaitForRoundsAsync(reader, 5);

            // SIGKILL: the kernel keeps the mounts (the holder has their connections); reads wait.
            await daemon.Process.KillAsync();
            Assert.Equal(mounts, FuseMountIds(root));
            await DropPageCacheAsync(); // what the container reads next must come through FUSE
            var atKill = Rounds(reader.Output);
            await Task.Delay(TimeSpan.FromSeconds(2), Token);
            Assert.True(Rounds(reader.Output) <= atKill + 1, $"the container went on reading with no daemon: {atKill} → {Rounds(reader.Output)} rounds");

            await daemon.StartAgainAsync();
            await WaitForRoundsAsync(reader, Rounds(reader.Output) + 10);
            Assert.Equal(mounts, FuseMountIds(root)); // the same mounts, resumed, not new ones
            Assert.Equal(3, Regex.Count(daemon.Process.Output, "resumed at"));

            // SIGTERM: the daemon leaves its layers mounted for the next one.
            await daemon.Process.StopAsync(TimeSpan.FromSeconds(30));
            Assert.Contains("left mounted at", daemon.Process.Output, StringComparison.Ordinal);
            await DropPageCacheAsync();
            await daemon.StartAgainAsync();
            await WaitForRoundsAsync(reader, Rounds(reader.Output) + 10);
            Assert.Equal(mounts, FuseMountIds(root));

            await containerd.CtrAsync("tasks", "kill", "-s", "KILL", "restart-reader");
            await WaitForExitAsync(reader);
            var output = reader.Output;
            Assert.DoesNotContain("READ-FAILED", output, StringComparison.Ordinal);
            Assert.DoesNotContain("sha256sum:", output, StringComparison.Ordinal);
            var busybox = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync("/bin/busybox", Token)));
            var blobHashes = HashesOf(output, "/www/blob.bin");
            var busyboxHashes = HashesOf(output, "/bin/busybox");
            // Rounds 0..N printed "round N"; the kill may land after a round's hashes and before its "round" line.
            Assert.InRange(blobHashes.Count, Rounds(output) + 1, Rounds(output) + 2);
            Assert.Single(blobHashes.Distinct());
            Assert.All(busyboxHashes, h => Assert.Equal(busybox, h));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{e.Message}\n--- daemon ---\n{daemon.Process.Output}\n--- reader ---\n{reader?.Output}", e);
        }
        finally
        {
            if (reader is not null)
            {
                await reader.DisposeAsync();
            }
            await daemon.DisposeAsync();
            await Mounts.DetachAllUnderAsync(directory.Path);
            await StopHolderAsync(holder);
        }
    }

    [Fact]
    public async Task With_the_registry_gone_a_restart_mounts_fully_local_layers_again_from_their_kept_tocs_and_cached_chunks()
    {
        RequireRealComponents();
        using var directory = new TempDirectory("daemon-offline-restart");
        DockerRegistryFixture? registry = await DockerRegistryFixture.StartAsync();
        var image = await PublishSampleImageAsync(directory, registry, "offline:1");

        // Nothing kept across the restart: every layer is mounted afresh, as after a reboot.
        var metrics = $"127.0.0.1:{LazyPullTests.FreePort()}";
        var config = directory.Combine("stargz.toml");
        await File.WriteAllTextAsync(config, $"""
            [restart]
            fd_store = "none"

            [metrics]
            address = "{metrics}"
            """, Token);
        var root = directory.Combine("root");
        var daemon = await DaemonProcess.StartAsync(root, directory.Combine("stargz.sock"), "--config", config);
        await using var containerd = await ContainerdFixture.StartAsync(new Dictionary<string, string> { ["stargz"] = daemon.Address });
        try
        {
            await containerd.CtrRemoteAsync("images", "rpull", "--plain-http", "--snapshotter", "stargz", image);
            var layers = Directory.GetFiles(Path.Combine(root, "layers"), "*.tail").Select(f => "sha256:" + Path.GetFileNameWithoutExtension(f)).ToList();
            Assert.Equal(3, layers.Count);
            await WaitFullyLocalAsync(metrics, layers);
            var before = await containerd.RunContainerAsync("stargz", image, "offline-before", ["/bin/sha256sum", "/www/blob.bin", "/bin/busybox"]);

            await daemon.Process.StopAsync(TimeSpan.FromSeconds(30));
            Assert.Empty(FuseMountIds(root));
            await registry.DisposeAsync();
            registry = null;
            await daemon.StartAgainAsync();
            Assert.Equal(3, FuseMountIds(root).Count);
            await WaitFullyLocalAsync(metrics, layers);
            await RemoteSnapshotTests.WaitForReconnectAsync(containerd);

            var after = await containerd.RunContainerAsync("stargz", image, "offline-after", ["/bin/sha256sum", "/www/blob.bin", "/bin/busybox"]);
            Assert.Equal(before, after);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync("/bin/busybox", Token))), HashesOf(after, "/bin/busybox").Single());

            // Removing the image drops what was kept for its layers.
            await containerd.CtrAsync("images", "rm", "--sync", image);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (Directory.GetFiles(Path.Combine(root, "layers"), "*.tail").Length > 0 || FuseMountIds(root).Count > 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the layers' mounts and kept TOCs outlived the image");
                await Task.Delay(200, Token);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{e.Message}\n--- daemon ---\n{daemon.Process.Output}", e);
        }
        finally
        {
            await daemon.DisposeAsync();
            if (registry is not null)
            {
                await registry.DisposeAsync();
            }
            await Mounts.DetachAllUnderAsync(directory.Path);
        }
    }

    [Fact]
    public async Task Under_systemd_the_daemon_says_ready_once_serving_and_stopping_on_sigterm()
    {
        Requirements.Root();
        using var directory = new TempDirectory("daemon-notify");
        var notify = directory.Combine("notify.sock");
        using var manager = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        manager.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(notify));
        var config = directory.Combine("stargz.toml");
        await File.WriteAllTextAsync(config, "[restart]\nfd_store = \"none\"\n", Token);
        var address = directory.Combine("stargz.sock");
        await using var daemon = new BackgroundProcess(DaemonProcess.Executable,
            ["--root", directory.Combine("root"), "--address", address, "--config", config], new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify });

        var ready = await ReceiveAsync(manager);
        Assert.StartsWith("READY=1\n", ready, StringComparison.Ordinal);
        Assert.True(File.Exists(address), "READY=1 came before the socket was served");

        await ProcessRunner.RunAsync("kill", ["-TERM", daemon.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), cancellationToken: Token);
        Assert.Equal("STOPPING=1", await ReceiveAsync(manager));
    }

    private static async Task<string> ReceiveAsync(System.Net.Sockets.Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var length = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, timeout.Token);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }

    private static Task<string> WaitFullyLocalAsync(string metrics, IReadOnlyList<string> layers) =>
        LazyPullTests.WaitForMetricsAsync(metrics, text => layers.All(l => LazyPullTests.MetricLine(text, "snapshotter_fs_layer_fully_local", l)?.EndsWith(" 1", StringComparison.Ordinal) == true));

    private static void RequireRealComponents()
    {
        Requirements.Root();
        Requirements.Fuse();
        Requirements.Tool("umoci", "umoci");
        Requirements.Tool("skopeo", "skopeo");
        Requirements.Tool("runc", "runc");
    }

    /// <summary>Builds the sample image, converts it with our estargz and pushes it to <paramref name="registry"/> as <paramref name="name"/>; returns its reference.</summary>
    private static async Task<string> PublishSampleImageAsync(TempDirectory directory, DockerRegistryFixture registry, string name)
    {
        var original = directory.Combine("original");
        await ProcessRunner.OutputOfAsync(RepositoryPaths.Script("build-sample-image.sh"), original);
        var converted = directory.Combine("converted");
        (await ProcessRunner.RunAsync("dotnet", [RepositoryPaths.EstargzCli, "convert", "--quiet", original, converted], TimeSpan.FromMinutes(5), cancellationToken: Token))
            .EnsureSuccess();
        var image = $"{registry.Host}/{name}";
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{converted}", $"docker://{image}");
        return image;
    }

    [GeneratedRegex(@"Descriptor holder (\d+) started")]
    private static partial Regex HolderStarted();

    [GeneratedRegex(@"^round (\d+)$", RegexOptions.Multiline)]
    private static partial Regex Round();

    private static int HolderPid(string daemonOutput)
    {
        var match = HolderStarted().Match(daemonOutput);
        Assert.True(match.Success, "the daemon never started its descriptor holder");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static int Rounds(string output) =>
        Round().Matches(output).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max();

    private static List<string> HashesOf(string output, string path) =>
        output.Split('\n').Select(l => l.Trim()).Where(l => l.EndsWith("  " + path, StringComparison.Ordinal)).Select(l => l[..64]).ToList();

    private static async Task WaitForRoundsAsync(BackgroundProcess reader, int rounds)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (Rounds(reader.Output) < rounds)
        {
            Assert.False(reader.HasExited, $"the reading container ended:\n{reader.Output}");
            Assert.True(DateTime.UtcNow < deadline, $"the container did not reach round {rounds}:\n{reader.Output}");
            await Task.Delay(100, Token);
        }
    }

    private static async Task WaitForExitAsync(BackgroundProcess process)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!process.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, Token);
        }
    }

    private static async Task DropPageCacheAsync()
    {
        await ProcessRunner.OutputOfAsync("sync");
        await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3", Token);
    }

    /// <summary>The FUSE mounts under <paramref name="root"/> as "mount id, mount point", in order: a new mount gets a new id.</summary>
    private static List<string> FuseMountIds(string root)
    {
        var prefix = Path.GetFullPath(root).TrimEnd('/') + "/";
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Where(f => f[4].StartsWith(prefix, StringComparison.Ordinal) && f[Array.IndexOf(f, "-") + 1].StartsWith("fuse", StringComparison.Ordinal))
            .Select(f => $"{f[0]} {f[4]}")
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The holder exits by itself once its connections ended; it is ended by PID if not (only if it is still our holder).</summary>
    private static async Task StopHolderAsync(int? pid)
    {
        if (pid is not { } holder)
        {
            return;
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (IsHolder(holder) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        if (IsHolder(holder))
        {
            await ProcessRunner.RunAsync("kill", ["-KILL", holder.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
            Assert.Fail($"the descriptor holder {holder} did not exit after its mounts were detached");
        }
    }

    private static bool IsHolder(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains("fd-holder", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
