using System.Collections.Concurrent;
using System.Formats.Tar;
using System.IO.Compression;
using Snapshotter.Snapshots;
using Snapshotter.Testing;

namespace Snapshotter.Snapshots.Tests;

/// <summary>
/// A real <see cref="IRemoteFileSystem"/> for tests: a "remote" layer is a tmpfs mounted at the
/// mountpoint and filled from the layer's tar(.gz) blob, found by the digest label the client sent
/// (<c>containerd.io/snapshot/cri.layer-digest</c> or <c>containerd.io/snapshot/remote/stargz.digest</c>).
/// Unknown layers are refused, like a lazy filesystem refuses a non-eStargz blob.
/// </summary>
public sealed class TarLayerRemoteFileSystem : IRemoteFileSystem
{
    public const string CriLayerDigest = "containerd.io/snapshot/cri.layer-digest";
    public const string StargzDigest = "containerd.io/snapshot/remote/stargz.digest";

    private readonly ConcurrentDictionary<string, string> _blobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _broken = new(StringComparer.Ordinal);

    public ConcurrentQueue<string> Mounted { get; } = new();

    public ConcurrentQueue<string> Checked { get; } = new();

    public ConcurrentQueue<string> Unmounted { get; } = new();

    /// <summary>Each <see cref="PreparedAsync"/>: the layer's mountpoint and its remote ancestors' (nearest first).</summary>
    public ConcurrentQueue<(string Mountpoint, string[] RemoteAncestors)> Prepared { get; } = new();

    /// <summary>Copies each layer whole to the local copies directory beside its mount, as the lazy filesystem copies prefetched files.</summary>
    public bool WritesLocalCopies { get; init; }

    /// <summary>Whether the local copies directory existed at each mount (only when <see cref="WritesLocalCopies"/>).</summary>
    public ConcurrentQueue<bool> LocalCopiesFound { get; } = new();

    /// <summary>Serves <paramref name="blobPath"/> (tar or tar.gz) for layers labelled with <paramref name="digest"/>.</summary>
    public void Serve(string digest, string blobPath) => _blobs[digest] = blobPath;

    /// <summary>From now on the layer at <paramref name="mountpoint"/> fails its checks.</summary>
    public void Break(string mountpoint) => _broken[mountpoint] = true;

    public Task PreparedAsync(string mountpoint, IReadOnlyList<string> remoteAncestors, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        Prepared.Enqueue((mountpoint, [.. remoteAncestors]));
        return Task.CompletedTask;
    }

    public async Task MountAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var digest = labels.GetValueOrDefault(CriLayerDigest) ?? labels.GetValueOrDefault(StargzDigest)
            ?? throw new RemoteLayerException("no layer digest label");
        if (!_blobs.TryGetValue(digest, out var blob))
        {
            throw new RemoteLayerException($"layer {digest} is not served by this test filesystem");
        }
        (await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=64m,mode=755", "tmpfs", mountpoint], cancellationToken: cancellationToken)).EnsureSuccess();
        try
        {
            await ExtractAsync(blob, mountpoint, cancellationToken);
            (await ProcessRunner.RunAsync("mount", ["-o", "remount,ro", mountpoint], cancellationToken: cancellationToken)).EnsureSuccess();
            if (WritesLocalCopies)
            {
                var local = IRemoteFileSystem.LocalCopiesOf(mountpoint);
                LocalCopiesFound.Enqueue(Directory.Exists(local));
                (await ProcessRunner.RunAsync("cp", ["-a", mountpoint + "/.", local], cancellationToken: cancellationToken)).EnsureSuccess();
            }
        }
        catch
        {
            await ProcessRunner.RunAsync("umount", ["-l", mountpoint], cancellationToken: CancellationToken.None);
            throw;
        }
        Mounted.Enqueue(mountpoint);
    }

    // Image layers may end without padding the last file to 512 bytes and without the end-of-archive
    // blocks (the sample image's umoci layers do; Go's archive/tar accepts that): complete them first.
    private static async Task ExtractAsync(string blob, string directory, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(blob);
        var magic = new byte[2];
        var gzip = await file.ReadAsync(magic, cancellationToken) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        file.Position = 0;
        using var tar = new MemoryStream();
        await using (Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file)
        {
            await stream.CopyToAsync(tar, cancellationToken);
        }
        tar.Write(new byte[(512 - (int)(tar.Length % 512)) % 512 + 1024]);
        tar.Position = 0;
        await TarFile.ExtractToDirectoryAsync(tar, directory, overwriteFiles: true, cancellationToken);
    }

    public Task CheckAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        Checked.Enqueue(mountpoint);
        if (_broken.ContainsKey(mountpoint))
        {
            throw new RemoteLayerException($"layer at {mountpoint} is broken");
        }
        if (!Mounts.Under(mountpoint).Contains(mountpoint))
        {
            throw new RemoteLayerException($"nothing is mounted at {mountpoint}");
        }
        return Task.CompletedTask;
    }

    public async Task UnmountAsync(string mountpoint, CancellationToken cancellationToken)
    {
        Unmounted.Enqueue(mountpoint);
        while (Mounts.Under(mountpoint).Contains(mountpoint))
        {
            (await ProcessRunner.RunAsync("umount", [mountpoint], cancellationToken: cancellationToken)).EnsureSuccess();
        }
    }
}

/// <summary>An <see cref="IRemoteFileSystem"/> that serves nothing: every layer takes the normal path.</summary>
public sealed class NoLayersRemoteFileSystem : IRemoteFileSystem
{
    public int MountCalls { get; private set; }

    public Task MountAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        MountCalls++;
        throw new RemoteLayerException("this test serves no remote layers");
    }

    public Task CheckAsync(string mountpoint, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        throw new RemoteLayerException("this test serves no remote layers");

    public Task UnmountAsync(string mountpoint, CancellationToken cancellationToken) => Task.CompletedTask;
}
