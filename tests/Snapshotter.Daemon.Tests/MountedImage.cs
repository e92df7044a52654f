using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Daemon.Remote;
using Snapshotter.Fs;
using Snapshotter.Registry;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>
/// An image pushed to a real registry behind a <see cref="FaultyRegistryProxy"/>, its layers
/// mounted one by one through a daemon's remote file system, as containerd would; all unmounted,
/// and the registry stopped, at the end.
/// </summary>
internal sealed class MountedImage : IAsyncDisposable
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private readonly RegistryClient _client = new(new RegistryClientOptions { MaxRetries = 0 });
    private readonly TempDirectory _directory;
    private readonly DockerRegistryFixture _registry;
    private readonly string _name;

    private MountedImage(TempDirectory directory, DockerRegistryFixture registry, FaultyRegistryProxy proxy, string name,
        IReadOnlyList<Estargz.EstargzBuildResult> blobs, LayerMountOptions options)
    {
        (_directory, _registry, Proxy, _name, Blobs) = (directory, registry, proxy, name, blobs);
        Layers = [.. blobs.Select(b => (b.BlobDigest, b.TocDigest))];
        Remote = new EstargzRemoteFileSystem(_client, NullLoggerFactory.Instance, options);
        MountPoints = blobs.Select((_, i) => Directory.CreateDirectory(directory.Combine($"fs{i}")).FullName).ToList();
    }

    public FaultyRegistryProxy Proxy { get; }

    public List<(Oci.Digest Layer, Oci.Digest Toc)> Layers { get; }

    /// <summary>What building each layer gave (its size and TOC offset among it).</summary>
    public IReadOnlyList<Estargz.EstargzBuildResult> Blobs { get; }

    public EstargzRemoteFileSystem Remote { get; }

    public List<string> MountPoints { get; }

    /// <summary>Skips outside CI without root, FUSE or docker-registry; pushes one layer per item of <paramref name="layers"/>.</summary>
    public static async Task<MountedImage> PushAsync(string name, IEnumerable<IEnumerable<(string Path, byte[] Content)>> layers, LayerMountOptions options,
        IReadOnlyList<string>? prioritized = null, bool hints = false)
    {
        Requirements.Root();
        Requirements.Fuse();
        Requirements.Tool("docker-registry", "docker-registry");
        var directory = new TempDirectory("daemon-preopen");
        var registry = await DockerRegistryFixture.StartAsync();
        var proxy = await FaultyRegistryProxy.StartAsync(registry.Host);
        var pushed = await FaultyRegistryTests.PushBuiltImageAsync(proxy.Host, name, layers, directory, prioritized, hints);
        return new MountedImage(directory, registry, proxy, name, pushed, options);
    }

    public Task MountAsync(int layer) => Remote.MountAsync(MountPoints[layer], Labels(layer), Token);

    /// <summary>Mounts with more labels, as containerd passes a layer's <c>containerd.io/snapshot/</c> annotations.</summary>
    public Task MountAsync(int layer, IReadOnlyDictionary<string, string> more) =>
        Remote.MountAsync(MountPoints[layer], new Dictionary<string, string>(Labels(layer).Concat(more)), Token);

    /// <summary>containerd's check of the layer's snapshot (it waits for the prefetch as the options say).</summary>
    public Task CheckAsync(int layer) => Remote.CheckAsync(MountPoints[layer], Labels(layer), Token);

    /// <summary>containerd's step after a layer's lazy Prepare, with the layers below it (all mounted lazily) as its remote ancestors.</summary>
    public Task PreparedAsync(int layer) =>
        Remote.PreparedAsync(MountPoints[layer], [.. MountPoints.Take(layer).Reverse()], Labels(layer), Token);

    // As ctr-remote labels a layer: its layer list runs from it up to the image's top.
    private Dictionary<string, string> Labels(int layer) => new()
    {
        [EstargzRemoteFileSystem.StargzLayersLabel] = string.Join(',', Layers.Skip(layer).Select(l => l.Layer.ToString())),
        [EstargzRemoteFileSystem.StargzReferenceLabel] = $"{Proxy.Host}/{_name}",
        [EstargzRemoteFileSystem.StargzDigestLabel] = Layers[layer].Layer.ToString(),
        [EstargzRemoteFileSystem.TocDigestLabel] = Layers[layer].Toc.ToString(),
    };

    public async ValueTask DisposeAsync()
    {
        Proxy.Fault = RegistryFault.None;
        foreach (var mountpoint in MountPoints)
        {
            await Remote.UnmountAsync(mountpoint, CancellationToken.None);
        }
        await Mounts.DetachAllUnderAsync(_directory.Path);
        Remote.Dispose();
        _client.Dispose();
        await Proxy.DisposeAsync();
        await _registry.DisposeAsync();
        _directory.Dispose();
    }
}
