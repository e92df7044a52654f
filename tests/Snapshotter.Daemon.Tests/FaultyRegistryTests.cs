using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Cache;
using Snapshotter.Daemon.Remote;
using Snapshotter.Estargz;
using Snapshotter.Fs;
using Snapshotter.Oci;
using Snapshotter.Registry;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// The lazy read path against a real registry behind a misbehaving proxy: corrupt bytes are never
/// served (EIO, counted) nor cached, dropped connections are survived, a slow registry times out
/// with EIO, and every read is correct once the registry behaves.
/// </summary>
public sealed class FaultyRegistryTests
{
    private const int FileSize = 3 * 1024 * 1024 + 17;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Corrupt_bytes_fail_with_EIO_and_are_not_cached_dropped_connections_are_survived_and_a_slow_registry_times_out()
    {
        Requirements.Root();
        Requirements.Fuse();
        Requirements.Tool("docker-registry", "docker-registry");
        using var directory = new TempDirectory("daemon-faults");
        await using var registry = await DockerRegistryFixture.StartAsync();
        await using var proxy = await FaultyRegistryProxy.StartAsync(registry.Host);
        var files = Enumerable.Range(0, 4).Select(i => SampleLayers.Pattern(FileSize, i)).ToArray();
        var (layerDigest, tocDigest) = await PushImageAsync(registry.Host, "faulty:1", files.Select((f, i) => ($"f{i}", f)), directory);

        using var client = new RegistryClient(new RegistryClientOptions { MaxRetries = 3, MinRetryDelay = TimeSpan.FromMilliseconds(10) });
        using var cache = ChunkCache.Open(new ChunkCacheOptions { Root = directory.Combine("cache") });
        var options = new LayerMountOptions
        {
            Cache = cache,
            Fetch = new FetchOptions { ReadAheadBytes = 0, Timeout = TimeSpan.FromSeconds(2) },
            Prefetch = PrefetchOptions.Default with { Enabled = false },
        };
        using var remote = new EstargzRemoteFileSystem(client, NullLoggerFactory.Instance, options);
        var mountpoint = directory.Combine("fs");
        Directory.CreateDirectory(mountpoint);
        var labels = new Dictionary<string, string>
        {
            [EstargzRemoteFileSystem.StargzReferenceLabel] = $"{proxy.Host}/faulty:1",
            [EstargzRemoteFileSystem.StargzDigestLabel] = layerDigest.ToString(),
            [EstargzRemoteFileSystem.TocDigestLabel] = tocDigest.ToString(),
        };
        try
        {
            await remote.MountAsync(mountpoint, labels, Token);

            // Corrupt bytes: the read fails with EIO, the failure is counted, nothing is cached.
            proxy.Fault = RegistryFault.Corrupt;
            var error = await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllBytesAsync(Path.Combine(mountpoint, "f0"), Token));
            Assert.Contains("Input/output error", error.Message, StringComparison.Ordinal);
            var statistics = remote.StatisticsOf(mountpoint)!;
            Assert.True(statistics.VerificationFailures >= 1);
            Assert.Equal(0, cache.Usage.Entries);

            // Once the registry behaves, the same file reads correctly (fetched again, verified).
            proxy.Fault = RegistryFault.None;
            Assert.Equal(files[0], await File.ReadAllBytesAsync(Path.Combine(mountpoint, "f0"), Token));

            // Every second blob response is cut mid-body: the client resumes, the reads are whole and right.
            proxy.Fault = RegistryFault.DropMidBody;
            var requestsBefore = proxy.BlobRequests;
            Assert.Equal(files[1], await File.ReadAllBytesAsync(Path.Combine(mountpoint, "f1"), Token));
            Assert.True(proxy.BlobRequests - requestsBefore >= 2);

            // A registry slower than the fetch timeout: EIO after the timeout, then correct data once it is quick again.
            proxy.Fault = RegistryFault.Slow;
            proxy.Delay = TimeSpan.FromSeconds(10);
            var failures = statistics.ReadFailures;
            await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllBytesAsync(Path.Combine(mountpoint, "f2"), Token));
            Assert.True(statistics.ReadFailures > failures);
            proxy.Fault = RegistryFault.None;
            Assert.Equal(files[2], await File.ReadAllBytesAsync(Path.Combine(mountpoint, "f2"), Token));
            Assert.Equal(files[3], await File.ReadAllBytesAsync(Path.Combine(mountpoint, "f3"), Token));
            Assert.True(cache.Usage.Entries > 0);
        }
        finally
        {
            await remote.UnmountAsync(mountpoint, CancellationToken.None);
            await Mounts.DetachAllUnderAsync(directory.Path);
        }
    }

    /// <summary>Builds a one-layer eStargz image of <paramref name="files"/> and pushes it as &lt;host&gt;/&lt;name&gt;.</summary>
    internal static async Task<(Digest Layer, Digest Toc)> PushImageAsync(string host, string name, IEnumerable<(string Path, byte[] Content)> files, TempDirectory directory) =>
        (await PushImageAsync(host, name, [files], directory))[0];

    /// <summary>
    /// Builds an eStargz image of one layer per item of <paramref name="layers"/> (bottom first) and
    /// pushes it as &lt;host&gt;/&lt;name&gt;; the <paramref name="prioritized"/> files a layer holds go
    /// before its prefetch landmark; with <paramref name="hints"/> each layer descriptor carries the
    /// prefetch hint, as <c>estargz convert</c> writes it.
    /// </summary>
    internal static async Task<IReadOnlyList<(Digest Layer, Digest Toc)>> PushImageAsync(string host, string name, IEnumerable<IEnumerable<(string Path, byte[] Content)>> layers, TempDirectory directory,
        IReadOnlyList<string>? prioritized = null, bool hints = false) =>
        (await PushBuiltImageAsync(host, name, layers, directory, prioritized, hints)).Select(b => (b.BlobDigest, b.TocDigest)).ToList();

    /// <summary><see cref="PushImageAsync"/>, giving each layer's build result (its size and TOC offset too).</summary>
    internal static async Task<IReadOnlyList<EstargzBuildResult>> PushBuiltImageAsync(string host, string name, IEnumerable<IEnumerable<(string Path, byte[] Content)>> layers, TempDirectory directory,
        IReadOnlyList<string>? prioritized = null, bool hints = false)
    {
        using var client = new RegistryClient();
        var reference = ImageReference.Parse($"{host}/{name}");
        var built = new List<EstargzBuildResult>();
        foreach (var files in layers)
        {
            var tar = new TarBuilder();
            foreach (var (path, content) in files)
            {
                tar.File(path, content);
            }
            var layerPath = directory.Combine($"layer{built.Count}.esgz");
            await using (var output = File.Create(layerPath))
            {
                built.Add(await EstargzBuilder.BuildAsync(new MemoryStream(tar.Build()), output, new EstargzBuildOptions { CompressionLevel = 1, PrioritizedFiles = prioritized ?? [], AllowPrioritizedNotFound = true }, Token));
            }
            var layer = built[^1];
            await client.PushBlobAsync(reference, new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = layer.BlobDigest, Size = layer.CompressedSize }, () => File.OpenRead(layerPath), cancellationToken: Token);
        }
        var diffIds = string.Join(",", built.Select(b => $"\"{b.DiffId}\""));
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[{{{diffIds}}}]},"config":{}}""");
        var configDigest = Digest.Compute(config);
        var layerDescriptors = string.Join(",", built.Select(b => $$$"""
            {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{{b.BlobDigest}}}","size":{{{b.CompressedSize}}},
             "annotations":{"containerd.io/snapshot/stargz/toc.digest":"{{{b.TocDigest}}}"{{{(hints ? HintAnnotation(b) : "")}}}}}
            """));
        var manifest = Encoding.UTF8.GetBytes($$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{configDigest}}}","size":{{{config.Length}}}},
             "layers":[{{{layerDescriptors}}}]}
            """);
        await client.PushBlobAsync(reference, new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest, Size = config.Length }, () => new MemoryStream(config), cancellationToken: Token);
        await client.PushManifestAsync(reference, MediaTypes.OciManifest, manifest, Token);
        return built;
    }

    private static string HintAnnotation(EstargzBuildResult layer) => $",\"{PrefetchHint.Annotation}\":\"{PrefetchHint.Format(layer.PrefetchSpans)}\"";
}
