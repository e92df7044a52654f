using System.Diagnostics;
using System.Globalization;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Registry.Tests;

/// <summary>
/// Ranged-read throughput and request latency against a local docker-registry. Explicit: it runs
/// only when asked for, e.g.
/// <c>dotnet test --project tests/Snapshotter.Registry.Tests -c Release -- --filter-class "*RegistryReadBenchmark" --explicit only</c>;
/// the figures are appended to <c>registry-read-benchmark.txt</c> beside the test assembly.
/// Every read is checked against the blob, so a wrong answer fails the run.
/// </summary>
public sealed class RegistryReadBenchmark : IAsyncLifetime
{
    private const int BlobSize = 64 << 20;
    private DockerRegistryFixture _registry = null!;
    private RegistryClient _client = null!;
    private byte[] _blob = null!;
    private IRangedBlob _ranged = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Where each run appends its figures (next to the test assembly).</summary>
    public static string ResultsFile => Path.Combine(AppContext.BaseDirectory, "registry-read-benchmark.txt");

    public async ValueTask InitializeAsync()
    {
        _registry = await DockerRegistryFixture.StartAsync();
        _client = new RegistryClient(new RegistryClientOptions { UseDockerConfig = false, MaxConcurrentRequestsPerHost = 64 });
        _blob = new byte[BlobSize];
        new Random(9).NextBytes(_blob);
        var reference = ImageReference.Parse($"{_registry.Host}/bench");
        var descriptor = Descriptor.For(MediaTypes.OciLayerGzip, _blob);
        await _client.PushBlobAsync(reference, descriptor, () => new MemoryStream(_blob), cancellationToken: Token);
        _ranged = _client.OpenBlob(reference, descriptor);
        await _ranged.CheckAsync(Token);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _registry.DisposeAsync();
    }

    [Fact(Explicit = true)]
    public Task Many_small_ranges_in_parallel() => SmallRangesAsync(_ranged, "docker-registry");

    /// <summary>The same load against an in-memory Kestrel server: what the client costs without the registry's disk and Go code.</summary>
    [Fact(Explicit = true)]
    public async Task Many_small_ranges_in_parallel_from_an_in_memory_server()
    {
        await using var server = await FaultServer.StartAsync(context => FaultServer.ServeRangesAsync(context, _blob));
        var ranged = _client.OpenBlob(ImageReference.Parse($"{server.Host}/bench"), Descriptor.For(MediaTypes.OciLayerGzip, _blob));
        await ranged.CheckAsync(Token);
        await SmallRangesAsync(ranged, "in-memory Kestrel");
    }

    private async Task SmallRangesAsync(IRangedBlob ranged, string server)
    {
        const int reads = 4000;
        const int size = 4096;
        const int parallelism = 32;
        var latencies = new double[reads];
        var next = -1;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, parallelism).Select(async _ =>
        {
            var buffer = new byte[size];
            int i;
            while ((i = Interlocked.Increment(ref next)) < reads)
            {
                var offset = (long)(i * 7919L % (BlobSize / size)) * size;
                var watch = Stopwatch.StartNew();
                await ranged.ReadAsync([new BlobRange(offset, buffer)], Token);
                latencies[i] = watch.Elapsed.TotalMilliseconds;
                Assert.True(buffer.AsSpan().SequenceEqual(_blob.AsSpan((int)offset, size)));
            }
        }));
        total.Stop();
        Report($"{server}: {reads} x {size} B ranges, {parallelism} in parallel", reads, (long)reads * size, total.Elapsed, latencies);
    }

    [Fact(Explicit = true)]
    public async Task Multi_range_requests_of_64_ranges()
    {
        const int requests = 200;
        const int ranges = 64;
        const int size = 4096;
        var latencies = new double[requests];
        var buffers = Enumerable.Range(0, ranges).Select(_ => new byte[size]).ToArray();
        var total = Stopwatch.StartNew();
        for (var r = 0; r < requests; r++)
        {
            var offsets = Enumerable.Range(0, ranges).Select(k => (long)((r * ranges + k) * 104_729L % (BlobSize / size / 2)) * size * 2).ToArray();
            var watch = Stopwatch.StartNew();
            await _ranged.ReadAsync(offsets.Select((o, k) => new BlobRange(o, buffers[k])).ToList(), Token);
            latencies[r] = watch.Elapsed.TotalMilliseconds;
            for (var k = 0; k < ranges; k++)
            {
                Assert.True(buffers[k].AsSpan().SequenceEqual(_blob.AsSpan((int)offsets[k], size)));
            }
        }
        total.Stop();
        Report($"{requests} requests of {ranges} x {size} B (multipart/byteranges)", requests, (long)requests * ranges * size, total.Elapsed, latencies);
    }

    [Fact(Explicit = true)]
    public async Task One_large_range()
    {
        var buffer = new byte[BlobSize - 1];
        var latencies = new double[5];
        var total = Stopwatch.StartNew();
        for (var i = 0; i < latencies.Length; i++)
        {
            var watch = Stopwatch.StartNew();
            await _ranged.ReadAsync([new BlobRange(1, buffer)], Token);
            latencies[i] = watch.Elapsed.TotalMilliseconds;
        }
        total.Stop();
        Assert.True(buffer.AsSpan().SequenceEqual(_blob.AsSpan(1)));
        Report($"{latencies.Length} x one {buffer.Length >> 20} MiB range", latencies.Length, (long)latencies.Length * buffer.Length, total.Elapsed, latencies);
    }

    private static void Report(string what, int requests, long bytes, TimeSpan elapsed, double[] latencies)
    {
        Array.Sort(latencies);
        double Percentile(double p) => latencies[Math.Min(latencies.Length - 1, (int)(p * latencies.Length))];
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{what}: {requests / elapsed.TotalSeconds:0} req/s, {bytes / elapsed.TotalSeconds / (1 << 20):0.0} MiB/s, latency p50 {Percentile(0.5):0.00} ms, p99 {Percentile(0.99):0.00} ms, max {latencies[^1]:0.00} ms");
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        File.AppendAllText(ResultsFile, line + Environment.NewLine);
    }
}
