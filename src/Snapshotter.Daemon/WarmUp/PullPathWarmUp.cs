using System.Diagnostics;
using System.Formats.Tar;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Daemon.Remote;
using Snapshotter.Estargz;
using Snapshotter.Fs;
using Snapshotter.Fuse.Handover;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Daemon.WarmUp;

/// <summary>
/// Before the daemon serves, one lazy pull of a small built-in eStargz image from a registry on
/// 127.0.0.1, through the code a real pull runs: resolve, footer and TOC, file tree, prefetch of
/// marked chunks with verification. A fresh process pays its first run of that code (type loading,
/// JIT of what ReadyToRun left out, HTTP connection setup) there instead of in the first
/// container's start, about 0.25 s on the benchmark machine. Given a directory, the layer is then
/// mounted there with FUSE, read through the mount and copied locally (<see cref="LocalCopies"/>),
/// and unmounted: the first real mount's INIT and reads were 40-70 ms slower than the next ones.
/// Given the daemon's handover, that mount is kept and forgotten through it like any other: the
/// first handover state written took 140-260 ms (JSON serialization's first run) on the first
/// real mount's path. Nothing is cached and the directory is deleted; a failure is logged and the
/// daemon serves regardless.
/// </summary>
internal static class PullPathWarmUp
{
    private const string Repository = "stargz-snapshotter/warm-up";

    /// <summary>What the warm-up pull prefetched; throws if any step failed.</summary>
    /// <param name="mountDirectory">Where to mount the layer once (created, then deleted); null: not mounted.</param>
    /// <param name="handover">Where the daemon keeps its mounts' connections (the mount is kept there while it lasts); null: none.</param>
    public static async Task<long> PullAsync(string? mountDirectory, FuseHandover? handover, CancellationToken cancellationToken)
    {
        var (blob, build) = await BuildLayerAsync(cancellationToken).ConfigureAwait(false);
        var layer = new Descriptor
        {
            MediaType = MediaTypes.OciLayerGzip,
            Digest = build.BlobDigest,
            Size = blob.Length,
            Annotations = new Dictionary<string, string> { [EstargzRemoteFileSystem.TocDigestLabel] = build.TocDigest.ToString() },
        };
        var config = System.Text.Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{build.DiffId}}}"]}}""");
        var configDescriptor = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = Digest.Compute(config), Size = config.Length };
        var manifestBytes = new ImageManifest { Config = configDescriptor, Layers = [layer] }.ToJsonBytes();
        var manifest = new ManifestContent(MediaTypes.OciManifest, Digest.Compute(manifestBytes), manifestBytes);

        await using var registry = new LoopbackRegistry(Repository, manifest, [(layer, blob), (configDescriptor, config)]);
        using var client = new RegistryClient(new RegistryClientOptions { UseDockerConfig = false, MaxRetries = 0, RequestTimeout = TimeSpan.FromSeconds(5) });
        var reference = ImageReference.Parse($"{registry.Host}/{Repository}:latest");
        var resolved = await client.ResolveAsync(reference, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fetched = new RegistryLayerBlob(client.OpenBlob(reference, resolved.Manifest.Layers[0]));
        var reader = await EstargzReader.OpenAsync(fetched, build.TocDigest, cancellationToken: cancellationToken).ConfigureAwait(false);
        using var content = LayerContent.Open(reader, fetched, new LayerMountOptions { RecentChunkBytes = 4L * 1024 * 1024, Handover = handover }, NullLoggerFactory.Instance);
        await content.StartPrefetch().WaitAsync(cancellationToken).ConfigureAwait(false);
        var statistics = content.Statistics;
        if (statistics.FetchedBytes == 0 || statistics.VerificationFailures != 0 || statistics.ReadFailures != 0)
        {
            throw new InvalidDataException($"the warm-up layer's prefetch brought {statistics.FetchedBytes} bytes, {statistics.VerificationFailures} verification and {statistics.ReadFailures} read failures");
        }
        if (mountDirectory is not null)
        {
            await MountOnceAsync(content, mountDirectory, cancellationToken).ConfigureAwait(false);
        }
        return statistics.FetchedBytes;
    }

    /// <summary>Mounts the content (which the mount then owns), reads through it, copies it locally, unmounts.</summary>
    private static async Task MountOnceAsync(LayerContent content, string directory, CancellationToken cancellationToken)
    {
        if (Directory.Exists(directory))
        {
            // A crash mid-warm-up left it, perhaps with its mount (a dead connection) still there.
            Snapshots.MountTable.DetachAllUnder(directory);
            Directory.Delete(directory, recursive: true);
        }
        var mountPoint = Path.Combine(directory, "fs");
        var local = Path.Combine(directory, "local");
        Directory.CreateDirectory(mountPoint);
        Directory.CreateDirectory(local);
        try
        {
            using (var mount = await LayerMount.MountAsync(content, mountPoint, NullLoggerFactory.Instance, local, cancellationToken).ConfigureAwait(false))
            {
                var library = Path.Combine(mountPoint, "usr/lib");
                foreach (var file in Directory.EnumerateFiles(library))
                {
                    _ = new FileInfo(file).Length;
                }
                await File.ReadAllBytesAsync(Path.Combine(library, "module-00.py"), cancellationToken).ConfigureAwait(false);
                await mount.LocalCopiesCompletion.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Runs <see cref="PullAsync"/> within <paramref name="timeout"/>, logging how it went; never throws but for cancellation.</summary>
    public static async Task RunAsync(string? mountDirectory, FuseHandover? handover, TimeSpan timeout, ILogger logger, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            var bytes = await PullAsync(mountDirectory, handover, limit.Token).ConfigureAwait(false);
            DaemonLog.WarmedUp(logger, bytes, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            DaemonLog.WarmUpFailed(logger, Stopwatch.GetElapsedTime(started).TotalMilliseconds, e);
        }
    }

    /// <summary>A layer like a small optimized image's: prioritized files (one read only in part) before the landmark, the rest after.</summary>
    private static async Task<(byte[] Blob, EstargzBuildResult Build)> BuildLayerAsync(CancellationToken cancellationToken)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "usr/") { Mode = (UnixFileMode)0x1ed });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "usr/lib/") { Mode = (UnixFileMode)0x1ed });
            for (var i = 0; i < 32; i++)
            {
                writer.WriteEntry(SampleFile($"usr/lib/module-{i:D2}.py", 3000 + 97 * i, i));
            }
            writer.WriteEntry(SampleFile("usr/lib/library.so", 768 * 1024, 99));
            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "usr/lib/library.so.1") { LinkName = "library.so" });
        }
        tar.Position = 0;
        using var blob = new MemoryStream();
        var options = new EstargzBuildOptions
        {
            ChunkSize = 256 * 1024,
            CompressionLevel = 1,
            Parallelism = 1,
            PrioritizedFiles = ["usr/lib/module-00.py", "usr/lib/module-01.py", "usr/lib/library.so"],
            PrioritizedReads = new Dictionary<string, IReadOnlyList<FileRange>>
            {
                ["usr/lib/module-00.py"] = [new FileRange(0, 3000)],
                ["usr/lib/module-01.py"] = [new FileRange(0, 3097)],
                ["usr/lib/library.so"] = [new FileRange(0, 128 * 1024), new FileRange(512 * 1024, 128 * 1024)],
            },
        };
        var build = await EstargzBuilder.BuildAsync(tar, blob, options, cancellationToken).ConfigureAwait(false);
        return (blob.ToArray(), build);
    }

    private static PaxTarEntry SampleFile(string name, int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data.AsSpan(0, size / 2)); // half random, half zeros: compresses like code
        return new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1a4, DataStream = new MemoryStream(data) };
    }
}
