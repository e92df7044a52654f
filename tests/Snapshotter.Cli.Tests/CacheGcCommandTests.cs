using System.Text.Json;
using Snapshotter.Cache;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Cli.Tests;

/// <summary><c>stargzctl cache gc</c> as a user runs it: the real executable on a real cache directory.</summary>
public sealed class CacheGcCommandTests
{
    private const int ChunkSize = 64 * 1024;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static string Cli => Path.Combine(AppContext.BaseDirectory, "stargzctl.dll");

    [Fact]
    public async Task Gc_evicts_to_the_budget_unmounted_layers_first_and_reports_what_it_freed()
    {
        using var temp = new TempDirectory("cli-cache-gc");
        var root = temp.Combine("cache");
        var mounted = Digest.Compute("mounted layer"u8);
        var unmounted = Digest.Compute("unmounted layer"u8);
        var options = new ChunkCacheOptions { Root = root, MemoryBytes = 0, MinFreePercent = 0 };
        var random = new Random(3);
        using (var cache = ChunkCache.Open(options))
        {
            foreach (var layer in new[] { mounted, unmounted })
            {
                for (var i = 0; i < 8; i++)
                {
                    var chunk = new byte[ChunkSize];
                    random.NextBytes(chunk);
                    await cache.PutAsync(new ChunkKey(layer, Digest.Compute(chunk)), chunk, Token);
                }
            }
            // A lease held by this process is what a running daemon's mount holds.
            using var lease = cache.AcquireLayer(mounted);
            var before = cache.Usage.DiskBytes;

            var result = await ProcessRunner.RunAsync("dotnet", [Cli, "cache", "gc", "--cache-dir", root, "--max-bytes", (before / 2).ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--low-watermark-percent", "100", "--min-free-percent", "0", "--json"], TimeSpan.FromMinutes(1), cancellationToken: Token);
            result.EnsureSuccess();

            using var json = JsonDocument.Parse(result.StandardOutput);
            Assert.True(json.RootElement.GetProperty("evictedEntries").GetInt32() >= 8);
            Assert.True(json.RootElement.GetProperty("diskBytes").GetInt64() <= before / 2);
        }
        // The mounted layer's chunks all stayed; the unmounted layer's went first.
        Assert.Equal(8, ChunksOf(root, mounted));
        Assert.Equal(0, ChunksOf(root, unmounted));
    }

    private static int ChunksOf(string root, Digest layer)
    {
        var directory = Path.Combine(root, "chunks", layer.Hex);
        return Directory.Exists(directory) ? Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Length : 0;
    }

    [Fact]
    public async Task A_missing_cache_directory_is_a_usage_error()
    {
        using var temp = new TempDirectory("cli-cache-gc");
        var result = await ProcessRunner.RunAsync("dotnet", [Cli, "cache", "gc", "--cache-dir", temp.Combine("absent")], TimeSpan.FromMinutes(1), cancellationToken: Token);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no cache directory", result.StandardError, StringComparison.Ordinal);
    }
}
