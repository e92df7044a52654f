using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Cache;
using Snapshotter.Daemon.Remote;
using Snapshotter.Fs;
using Snapshotter.Registry;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// Lazy read latency through the whole path (FUSE mount, our registry client, a local
/// docker-registry, verification, the chunk cache): cold first reads, warm reads from the memory
/// tier and from disk, and the time until background fetch makes a layer fully local. Explicit:
/// <c>dotnet test --project tests/Snapshotter.Daemon.Tests -c Release -- --filter-class "*LazyReadBenchmark" --explicit only</c>;
/// figures are appended to <c>lazy-read-benchmark.txt</c> beside the test assembly. Every read is checked.
/// </summary>
public sealed class LazyReadBenchmark
{
    private const int SmallFiles = 200;
    private const int SmallSize = 16 * 1024;
    private const int BigFiles = 16;
    private const int BigSize = 4 * 1024 * 1024;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static string ResultsFile => Path.Combine(AppContext.BaseDirectory, "lazy-read-benchmark.txt");

    [Fact(Explicit = true)]
    public async Task Cold_and_warm_reads_and_time_to_fully_local()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var directory = new TempDirectory("lazy-bench");
        await using var registry = await DockerRegistryFixture.StartAsync();
        var random = new Random(5);
        var files = Enumerable.Range(0, SmallFiles).Select(i => ($"small/{i:D4}", Bytes(random, SmallSize)))
            .Concat(Enumerable.Range(0, BigFiles).Select(i => ($"big/{i:D2}", Bytes(random, BigSize)))).ToList();
        var (layer, toc) = await FaultyRegistryTests.PushImageAsync(registry.Host, "bench:1", files, directory);
        var labels = new Dictionary<string, string>
        {
            [EstargzRemoteFileSystem.StargzReferenceLabel] = $"{registry.Host}/bench:1",
            [EstargzRemoteFileSystem.StargzDigestLabel] = layer.ToString(),
            [EstargzRemoteFileSystem.TocDigestLabel] = toc.ToString(),
        };
        var report = new List<string> { $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} CPUs, docker-registry on loopback, layer {layer}" };
        using var client = new RegistryClient(new RegistryClientOptions { UseDockerConfig = false });
        var cacheOptions = new ChunkCacheOptions { Root = directory.Combine("cache") };
        var noBackground = new LayerMountOptions { Fetch = new FetchOptions { ReadAheadBytes = 0 }, Prefetch = PrefetchOptions.Default with { Enabled = false } };

        // Cold: every read is an on-demand fetch (no read-ahead, no prefetch, empty cache).
        using (var cache = ChunkCache.Open(cacheOptions))
        {
            await using var mount = await MountAsync(client, noBackground with { Cache = cache }, labels, directory, "cold");
            report.Add(Line("cold read, 16 KiB file (one chunk)", await TimeReadsAsync(mount.Path, files.Take(SmallFiles))));
            report.Add(Line("cold read, 4 MiB file (one chunk)", await TimeReadsAsync(mount.Path, files.Skip(SmallFiles))));
            await DropPageCacheAsync();
            report.Add(Line("warm read from the memory tier, 16 KiB", await TimeReadsAsync(mount.Path, files.Take(SmallFiles))));
            report.Add(Line("warm read from the memory tier, 4 MiB", await TimeReadsAsync(mount.Path, files.Skip(SmallFiles))));
        }

        // Warm from disk: a new cache instance (as after a daemon restart) over the same directory.
        using (var cache = ChunkCache.Open(cacheOptions))
        {
            await using var mount = await MountAsync(client, noBackground with { Cache = cache }, labels, directory, "disk");
            report.Add(Line("warm read from disk (verified once), 16 KiB", await TimeReadsAsync(mount.Path, files.Take(SmallFiles))));
            report.Add(Line("warm read from disk (verified once), 4 MiB", await TimeReadsAsync(mount.Path, files.Skip(SmallFiles))));
        }

        // Time until fully local: background fetch at an unlimited rate, empty cache.
        using (var cache = ChunkCache.Open(cacheOptions with { Root = directory.Combine("cache-2") }))
        {
            var gate = new FetchGate();
            using var background = new BackgroundFetcher(BackgroundFetchOptions.Default with { BytesPerSecond = 0 }, gate, TimeProvider.System, NullLogger<BackgroundFetcher>.Instance);
            var started = Stopwatch.GetTimestamp();
            await using var mount = await MountAsync(client, new LayerMountOptions { Cache = cache, Background = background }, labels, directory, "background");
            while (!mount.Statistics.IsFullyLocal)
            {
                Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromMinutes(2), "the layer did not become fully local");
                await Task.Delay(5, Token);
            }
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            report.Add(string.Create(CultureInfo.InvariantCulture,
                $"mount to fully local: {seconds:F2} s for {mount.Statistics.CompressedBytes / 1e6:F1} MB compressed ({mount.Statistics.CompressedBytes / 1e6 / seconds:F0} MB/s)"));
            await TimeReadsAsync(mount.Path, files); // every byte right
        }
        await File.AppendAllLinesAsync(ResultsFile, [.. report, ""], Token);
        TestContext.Current.SendDiagnosticMessage(string.Join('\n', report));
    }

    private static byte[] Bytes(Random random, int size)
    {
        // Half random, half repeated: compresses about 2:1, like binaries.
        var bytes = new byte[size];
        random.NextBytes(bytes.AsSpan(0, size / 2));
        bytes.AsSpan(0, size / 2).CopyTo(bytes.AsSpan(size / 2));
        return bytes;
    }

    private static async Task<List<double>> TimeReadsAsync(string root, IEnumerable<(string Path, byte[] Content)> files)
    {
        var milliseconds = new List<double>();
        foreach (var (path, content) in files)
        {
            var started = Stopwatch.GetTimestamp();
            var read = await File.ReadAllBytesAsync(Path.Combine(root, path), Token);
            milliseconds.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Assert.Equal(content, read);
        }
        return milliseconds;
    }

    private static string Line(string what, List<double> milliseconds)
    {
        milliseconds.Sort();
        return string.Create(CultureInfo.InvariantCulture,
            $"{what}: median {milliseconds[milliseconds.Count / 2]:F2} ms, p90 {milliseconds[milliseconds.Count * 9 / 10]:F2} ms, min {milliseconds[0]:F2} ms ({milliseconds.Count} reads)");
    }

    private static async Task DropPageCacheAsync()
    {
        await ProcessRunner.OutputOfAsync("sync");
        await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3", Token);
    }

    private static async Task<MountedRemote> MountAsync(RegistryClient client, LayerMountOptions options, Dictionary<string, string> labels, TempDirectory directory, string name)
    {
        var remote = new EstargzRemoteFileSystem(client, NullLoggerFactory.Instance, options);
        var path = directory.Combine(name);
        Directory.CreateDirectory(path);
        await remote.MountAsync(path, labels, Token);
        return new MountedRemote(remote, path);
    }

    private sealed record MountedRemote(EstargzRemoteFileSystem Remote, string Path) : IAsyncDisposable
    {
        public LayerStatistics Statistics => Remote.StatisticsOf(Path)!;

        public async ValueTask DisposeAsync()
        {
            await Remote.UnmountAsync(Path, CancellationToken.None);
            Remote.Dispose();
        }
    }
}
