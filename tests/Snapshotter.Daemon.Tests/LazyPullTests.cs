using System.Text.Json.Nodes;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// The daemon with its real wiring (no test filesystem): an image converted by our `estargz convert`,
/// or by the Go `ctr-remote image convert --estargz --oci`, each to eStargz or zstd:chunked, is pushed to a real registry, `ctr-remote images rpull` pulls it through containerd with every
/// layer mounted lazily by FUSE from the registry, the daemon restarts and mounts them again, and a
/// container reads the files with their original bytes.
/// </summary>
public sealed class LazyPullTests
{
    private const string TocDigestAnnotation = "containerd.io/snapshot/stargz/toc.digest";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("estargz")]
    [InlineData("ctr-remote")]
    [InlineData("estargz --zstdchunked")]
    [InlineData("ctr-remote --zstdchunked")]
    public async Task Rpull_mounts_every_estargz_layer_with_fuse_from_the_registry_and_a_container_reads_the_original_bytes(string converter)
    {
        Requirements.Root();
        Requirements.Tool("umoci", "umoci");
        Requirements.Tool("skopeo", "skopeo");
        Requirements.Tool("docker-registry", "docker-registry");
        Requirements.Tool("runc", "runc");
        using var directory = new TempDirectory("daemon-lazy");
        var original = directory.Combine("original");
        await ProcessRunner.OutputOfAsync(RepositoryPaths.Script("build-sample-image.sh"), original);
        var converted = directory.Combine("converted");
        var zstdChunked = converter.EndsWith("--zstdchunked", StringComparison.Ordinal);
        if (converter.StartsWith("estargz", StringComparison.Ordinal))
        {
            // zstd:chunked with its prefetch groups: chunks sharing members go through the member inflated once.
            string[] format = zstdChunked ? ["--zstdchunked", "--min-chunk-size", "65536"] : [];
            (await ProcessRunner.RunAsync("dotnet", [RepositoryPaths.EstargzCli, "convert", "--quiet", .. format, original, converted], TimeSpan.FromMinutes(5), cancellationToken: Token))
                .EnsureSuccess();
        }
        else
        {
            await ConvertWithCtrRemoteAsync(directory, original, converted, zstdChunked);
        }
        var layers = LayersOf(converted);
        Assert.Equal(3, layers.Count);
        Assert.All(layers, layer => Assert.StartsWith("sha256:", layer.Toc, StringComparison.Ordinal));

        // The expected bytes: the files of the original (non-eStargz) layers.
        var expectedTree = directory.Combine("expected");
        Directory.CreateDirectory(expectedTree);
        foreach (var (digest, _) in LayersOf(original))
        {
            // umoci here ends a layer's tar stream inside its last member (no padding, no end-of-archive
            // blocks), so tar exits 2 on every layer; the members read below come before that point and
            // are checked to be whole.
            await ProcessRunner.RunAsync("tar", ["-xzf", BlobPath(original, digest), "-C", expectedTree], TimeSpan.FromMinutes(1), cancellationToken: Token);
        }
        Assert.Equal(3_000_000, new FileInfo(Path.Combine(expectedTree, "www", "blob.bin")).Length);
        Assert.Equal(await File.ReadAllBytesAsync("/bin/busybox", Token), await File.ReadAllBytesAsync(Path.Combine(expectedTree, "bin", "busybox"), Token));
        var expected = Hashes(await ProcessRunner.OutputOfAsync("sha256sum", Path.Combine(expectedTree, "www", "blob.bin"), Path.Combine(expectedTree, "bin", "busybox")));

        await using var registry = await DockerRegistryFixture.StartAsync();
        var image = $"{registry.Host}/lazy:1";
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{converted}", $"docker://{image}");

        var config = new DaemonConfig
        {
            // In-process: nothing runs the descriptor holder; RestartTests covers keeping mounts.
            Restart = new RestartConfig { FdStore = FdStoreKind.None },
            Root = directory.Combine("root"),
            Address = directory.Combine("stargz.sock"),
            LogLevel = Microsoft.Extensions.Logging.LogLevel.Debug,
            Metrics = new MetricsConfig { Address = $"127.0.0.1:{FreePort()}" },
            // The pull ends at the top layer's Prepare once the prefetch is local (nothing to wait
            // for here: no landmark); the metric below shows ctr-remote's labels named that layer.
            Prefetch = Fs.PrefetchOptions.Default with { PullWait = TimeSpan.FromSeconds(30) },
        };
        var daemon = await InProcessDaemon.StartAsync(config, remote: null);
        try
        {
            await using var containerd = await ContainerdFixture.StartAsync(new Dictionary<string, string> { ["stargz"] = config.Address });
            try
            {
                var waitsBefore = await PullWaitsAsync(config.Metrics.Address);
                await containerd.CtrRemoteAsync("images", "rpull", "--plain-http", "--snapshotter", "stargz", image);
                // ctr-remote's labels named the top layer: the pull waited there, once.
                Assert.Equal(waitsBefore + 1, await PullWaitsAsync(config.Metrics.Address));

                // Every layer is a FUSE mount under the daemon's root, and containerd never downloaded a layer blob.
                var fuseMounts = FuseMountsUnder(Path.Combine(config.Root, "snapshots"));
                Assert.Equal(3, fuseMounts.Count);
                var content = await containerd.CtrAsync("content", "ls", "-q");
                Assert.All(layers, layer => Assert.DoesNotContain(layer.Digest, content));
                var snapshots = await containerd.CtrAsync("snapshots", "--snapshotter", "stargz", "ls");
                Assert.Equal(3, snapshots.Split('\n').Count(l => l.Contains("Committed", StringComparison.Ordinal)));

                // Restart between pull and run: every layer is mounted again from its stored labels.
                await daemon.DisposeAsync();
                daemon = await InProcessDaemon.StartAsync(config, remote: null);
                Assert.Equal(fuseMounts.Order(StringComparer.Ordinal), FuseMountsUnder(Path.Combine(config.Root, "snapshots")).Order(StringComparer.Ordinal));
                await RemoteSnapshotTests.WaitForReconnectAsync(containerd);

                // A container on the lazily pulled layers reads the original bytes (fetched by ranges, verified per chunk).
                var output = await containerd.RunContainerAsync("stargz", image, "lazy-run",
                    ["/bin/sha256sum", "/www/blob.bin", "/bin/busybox"]);
                Assert.Equal(expected, Hashes(output));
                var contentAfterRun = await containerd.CtrAsync("content", "ls", "-q");
                Assert.All(layers, layer => Assert.DoesNotContain(layer.Digest, contentAfterRun));

                // Background fetch makes every layer fully local; the metrics endpoint says so, per layer.
                var metrics = await WaitForMetricsAsync(config.Metrics.Address, text => layers.All(l => MetricLine(text, "snapshotter_fs_layer_fully_local", l.Digest)?.EndsWith(" 1", StringComparison.Ordinal) == true));
                Assert.All(layers, l => Assert.NotNull(MetricLine(metrics, "snapshotter_fs_fetch_bytes", l.Digest)));
                Assert.Contains("snapshotter_fuse_operation_duration", metrics, StringComparison.Ordinal);
                Assert.Contains("opcode=\"READ\"", metrics, StringComparison.Ordinal);
                Assert.Contains("snapshotter_cache_hits", metrics, StringComparison.Ordinal);
                Assert.DoesNotContain("snapshotter_cache_snapshotter", metrics, StringComparison.Ordinal);

                // Removing the image lets containerd's GC remove the snapshots: every FUSE layer is unmounted.
                await containerd.CtrAsync("images", "rm", "--sync", image);
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (FuseMountsUnder(Path.Combine(config.Root, "snapshots")).Count > 0 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200, Token);
                }
                Assert.Empty(FuseMountsUnder(Path.Combine(config.Root, "snapshots")));
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

    internal static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The first sample line of <paramref name="metric"/> (any suffix) whose labels name <paramref name="layer"/>.</summary>
    internal static string? MetricLine(string text, string metric, string layer) =>
        text.Split('\n').FirstOrDefault(l => l.StartsWith(metric, StringComparison.Ordinal) && l.Contains($"layer=\"{layer}\"", StringComparison.Ordinal));

    /// <summary>Pulls that waited for their prefetch so far (the exporter's registry outlives a daemon in this process).</summary>
    private static async Task<long> PullWaitsAsync(string address)
    {
        using var http = new HttpClient();
        var match = System.Text.RegularExpressions.Regex.Match(await http.GetStringAsync($"http://{address}/metrics", Token),
            @"^snapshotter_fs_pull_wait_duration_count\{outcome=""prefetched""\} (\d+)$", System.Text.RegularExpressions.RegexOptions.Multiline);
        return match.Success ? long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>Scrapes /metrics until <paramref name="done"/> holds (60 s at most); returns the last scrape.</summary>
    internal static async Task<string> WaitForMetricsAsync(string address, Func<string, bool> done)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var text = await http.GetStringAsync($"http://{address}/metrics", Token);
            if (done(text))
            {
                return text;
            }
            Assert.True(DateTime.UtcNow < deadline, $"metrics never reached the expected state:\n{text}");
            await Task.Delay(250, Token);
        }
    }

    /// <summary>The Go converter runs inside a containerd of its own, so the test's containerd starts with an empty content store.</summary>
    private static async Task ConvertWithCtrRemoteAsync(TempDirectory directory, string original, string converted, bool zstdChunked)
    {
        await using var containerd = await ContainerdFixture.StartAsync();
        var archive = directory.Combine("original.tar");
        await ProcessRunner.OutputOfAsync("tar", "-C", original, "-cf", archive, ".");
        await containerd.CtrAsync("images", "import", "--base-name", "localhost/original", archive);
        await containerd.CtrRemoteAsync("images", "convert", zstdChunked ? "--zstdchunked" : "--estargz", "--oci", "localhost/original:sample", "localhost/go:esgz");
        var exported = directory.Combine("go.tar");
        await containerd.CtrAsync("images", "export", exported, "localhost/go:esgz");
        Directory.CreateDirectory(converted);
        await ProcessRunner.OutputOfAsync("tar", "-C", converted, "-xf", exported);
    }

    /// <summary>sha256sum output as (hash, file name) pairs, the path reduced to its last two parts.</summary>
    private static List<string> Hashes(string sha256sumOutput) =>
        sha256sumOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split("  ", 2))
            .Select(parts => parts[0] + " " + string.Join('/', parts[1].Split('/').TakeLast(2)))
            .ToList();

    /// <summary>The FUSE mounts (fstype fuse or fuse.*) in /proc/self/mountinfo under <paramref name="directory"/>.</summary>
    private static List<string> FuseMountsUnder(string directory)
    {
        var prefix = Path.GetFullPath(directory).TrimEnd('/') + "/";
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Where(fields =>
            {
                var separator = Array.IndexOf(fields, "-");
                var type = separator >= 0 && separator + 1 < fields.Length ? fields[separator + 1] : "";
                return (type == "fuse" || type.StartsWith("fuse.", StringComparison.Ordinal)) && fields[4].StartsWith(prefix, StringComparison.Ordinal);
            })
            .Select(fields => fields[4])
            .ToList();
    }

    private static string BlobPath(string layout, string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);

    /// <summary>The layer digests of the single image in an OCI layout, with their TOC digest annotations (empty if none).</summary>
    private static List<(string Digest, string Toc)> LayersOf(string layout)
    {
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(layout, "index.json")))!;
        var manifest = JsonNode.Parse(File.ReadAllText(BlobPath(layout, index["manifests"]![0]!["digest"]!.GetValue<string>())))!;
        return manifest["layers"]!.AsArray()
            .Select(layer => (layer!["digest"]!.GetValue<string>(), layer["annotations"]?[TocDigestAnnotation]?.GetValue<string>() ?? ""))
            .ToList();
    }
}
