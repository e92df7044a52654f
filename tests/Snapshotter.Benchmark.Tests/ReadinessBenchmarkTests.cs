using System.Net;
using System.Net.Sockets;
using Snapshotter.Benchmark.Model;
using Snapshotter.Benchmark.Reporting;
using Snapshotter.Benchmark.Running;
using Snapshotter.Testing;

namespace Snapshotter.Benchmark.Tests;

/// <summary>
/// The benchmark end to end, short: the busybox sample image (plain and converted by our
/// `estargz`) in a real registry on loopback, one cold run per mode on a fresh containerd and
/// daemon of ours, timed to the first HTTP 200 of the container's httpd.
/// </summary>
public sealed class ReadinessBenchmarkTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task One_cold_run_per_mode_measures_every_phase_mounts_lazy_layers_and_leaves_nothing_behind()
    {
        Requirements.Root();
        Requirements.Fuse();
        Requirements.Tool("containerd", "containerd");
        Requirements.Tool("ctr-remote", "stargz-snapshotter");
        Requirements.Tool("umoci", "umoci");
        Requirements.Tool("skopeo", "skopeo");
        Requirements.Tool("runc", "runc");
        Requirements.Tool("busybox", "busybox-static");
        using var directory = new TempDirectory("bench-readiness");
        var plain = directory.Combine("sample");
        await ProcessRunner.OutputOfAsync(RepositoryPaths.Script("build-sample-image.sh"), plain);
        var lazy = directory.Combine("sample-esgz");
        (await ProcessRunner.RunAsync("dotnet", [RepositoryPaths.EstargzCli, "convert", "--quiet", plain, lazy],
            TimeSpan.FromMinutes(5), cancellationToken: Token)).EnsureSuccess();
        await using var registry = await DockerRegistryFixture.StartAsync();
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--dest-tls-verify=false", $"oci:{plain}:sample", $"docker://{registry.Host}/sample:plain");
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{lazy}:sample", $"docker://{registry.Host}/sample:esgz");

        var port = FreeLoopbackPort();
        var image = ImageSpec.Parse($"name=busybox,plain={registry.Host}/sample:plain,lazy={registry.Host}/sample:esgz," +
            $"url=http://127.0.0.1:{port}/index.html,command=/bin/httpd -f -p 127.0.0.1:{port} -h /www");
        var work = directory.Combine("work");
        var settings = new BenchmarkSettings
        {
            Images = [image],
            Modes = [PullMode.Overlayfs(), PullMode.Lazy()],
            Repetitions = 1,
            WorkDirectory = work,
            HostsDirectory = HostsDirectory.Write(directory.Combine("hosts"), [image], plainHttp: true),
            SnapshotterExecutable = RepositoryPaths.SnapshotterDaemon,
            // Dropping the whole machine's page cache would slow every other test running beside this one.
            DropCaches = false,
            LinkInterface = "lo",
            ReadyTimeout = TimeSpan.FromMinutes(2),
            Commit = "test",
        };
        Assert.Empty(settings.Validate());
        var json = directory.Combine("readiness.json");
        var progress = new StringWriter();

        var result = await new ReadinessBenchmark(settings, progress).RunAsync(json, Token);

        Assert.True(result.Runs.All(r => r.Succeeded), progress + "\nlogs:\n" + Logs(work));
        var overlayfs = Assert.Single(result.Runs, r => r.Mode == PullMode.OverlayfsName);
        var lazyRun = Assert.Single(result.Runs, r => r.Mode == PullMode.LazyName);
        foreach (var run in result.Runs)
        {
            Assert.InRange(run.PullSeconds!.Value, 0.001, 120);
            Assert.InRange(run.StartSeconds!.Value, 0.001, 120);
            Assert.InRange(run.StartToReadySeconds!.Value, 0.001, 120);
            Assert.True(run.PullToReadySeconds >= run.PullSeconds + run.StartToReadySeconds - 0.05, $"pull→ready {run.PullToReadySeconds} < pull {run.PullSeconds} + start→ready {run.StartToReadySeconds}");
            Assert.True(run.RegistryBytes > 0);
        }
        // The sample has three layers: each lazily mounted over FUSE by our daemon; none with overlayfs.
        Assert.Equal(0, overlayfs.LazyLayers);
        Assert.Equal(3, lazyRun.LazyLayers);
        Assert.Contains("1/2", progress.ToString());
        Assert.Equal(result.Runs, (await ResultsJson.ReadAsync(json, Token)).Runs);
        Assert.Equal("test", result.Label);

        // Every run's directory is gone (processes stopped, mounts detached); only the logs stay.
        Assert.Equal(["logs"], Directory.GetFileSystemEntries(work).Select(Path.GetFileName));
        Assert.Empty(Mounts.Under(work));
        Assert.Contains(Directory.GetFiles(Path.Combine(work, "logs")), f => f.EndsWith("lazy-stargz-snapshotter.log", StringComparison.Ordinal));

        var written = await ReportFiles.WriteAsync([result], directory.Path, "readiness", Token);
        Assert.Contains("| busybox | lazy |", await File.ReadAllTextAsync(written.Markdown, Token));
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Logs(string work) =>
        string.Join("\n", Directory.GetFiles(Path.Combine(work, "logs")).Select(f => $"--- {f}\n{string.Join('\n', File.ReadLines(f).TakeLast(30))}"));
}
