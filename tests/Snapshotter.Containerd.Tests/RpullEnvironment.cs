using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Containerd.Tests;

/// <summary>
/// A registry with the sample image (busybox httpd, 3 layers) as eStargz behind a two-platform index
/// (<see cref="EstargzImage"/>) and as plain gzip (<see cref="PlainImage"/>); optionally our daemon
/// as containerd's "stargz" proxy snapshotter; and the <c>stargzctl</c> CLI.
/// </summary>
internal sealed class RpullEnvironment : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("rpull");

    private RpullEnvironment()
    {
    }

    public DockerRegistryFixture Registry { get; private set; } = null!;

    public ContainerdFixture Containerd { get; private set; } = null!;

    public SnapshotterDaemonFixture? Daemon { get; private set; }

    public string EstargzImage => $"{Registry.Host}/sample:esgz";

    public string PlainImage => $"{Registry.Host}/sample:plain";

    /// <summary>The eStargz layers (bottom first) with their TOC digests.</summary>
    public IReadOnlyList<Descriptor> EstargzLayers { get; private set; } = [];

    public IReadOnlyList<Descriptor> PlainLayers { get; private set; } = [];

    /// <summary>The platform manifest of this machine in the eStargz index, and the index.</summary>
    public Descriptor EstargzManifest { get; private set; } = null!;

    public Descriptor EstargzIndex { get; private set; } = null!;

    public Descriptor OtherPlatformManifest { get; private set; } = null!;

    public static async Task<RpullEnvironment> StartAsync(bool withDaemon)
    {
        Requirements.Root();
        Requirements.Tool("umoci", "umoci");
        Requirements.Tool("skopeo", "skopeo");
        Requirements.Tool("runc", "runc");
        var environment = new RpullEnvironment();
        try
        {
            await environment.SetUpAsync(withDaemon);
            return environment;
        }
        catch
        {
            await environment.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs <c>stargzctl ARGS --address &lt;containerd&gt;</c>.</summary>
    public Task<ProcessResult> StargzctlAsync(params string[] args) =>
        ProcessRunner.RunAsync("dotnet", [RepositoryPaths.Stargzctl, .. args, "--address", Containerd.Address], TimeSpan.FromMinutes(5),
            cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Runs <c>ctr -n NAMESPACE ARGS</c> and returns stdout.</summary>
    public Task<string> CtrAsync(string @namespace, params string[] args) => Containerd.CtrAsync(["-n", @namespace, .. args]);

    /// <summary>Runs COMMAND in a container of IMAGE on our snapshotter in NAMESPACE and returns its stdout.</summary>
    public Task<string> RunContainerAsync(string @namespace, string image, string name, params string[] command) =>
        Containerd.RunContainerAsync("stargz", image, name, command, @namespace);

    public IReadOnlyList<string> FuseMounts() =>
        Daemon is null ? [] : File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Where(fields => fields[4].StartsWith(Path.Combine(Daemon.Root, "snapshots") + "/", StringComparison.Ordinal)
                && fields.SkipWhile(f => f != "-").Skip(1).FirstOrDefault() is { } type && (type == "fuse" || type.StartsWith("fuse.", StringComparison.Ordinal)))
            .Select(fields => fields[4])
            .ToList();

    public async ValueTask DisposeAsync()
    {
        if (Containerd is not null)
        {
            await Containerd.DisposeAsync();
        }
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }
        if (Registry is not null)
        {
            await Registry.DisposeAsync();
        }
        await Mounts.DetachAllUnderAsync(_directory.Path);
        _directory.Dispose();
    }

    private async Task SetUpAsync(bool withDaemon)
    {
        var token = TestContext.Current.CancellationToken;
        var original = _directory.Combine("original");
        await ProcessRunner.OutputOfAsync(RepositoryPaths.Script("build-sample-image.sh"), original);
        var converted = _directory.Combine("converted");
        (await ProcessRunner.RunAsync("dotnet", [RepositoryPaths.EstargzCli, "convert", "--quiet", original, converted],
            TimeSpan.FromMinutes(5), cancellationToken: token)).EnsureSuccess();
        await MakeTwoPlatformIndexAsync(converted, token);

        Registry = await DockerRegistryFixture.StartAsync();
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", $"oci:{converted}:multi", $"docker://{EstargzImage}");
        await ProcessRunner.OutputOfAsync("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{original}:sample", $"docker://{PlainImage}");
        PlainLayers = await LayersAsync(original, token);

        var proxies = new Dictionary<string, string>();
        if (withDaemon)
        {
            Daemon = await SnapshotterDaemonFixture.StartAsync();
            proxies["stargz"] = Daemon.Address;
        }
        Containerd = await ContainerdFixture.StartAsync(proxies);
    }

    /// <summary>Puts the converted image behind an index with this machine's platform and another one.</summary>
    private async Task MakeTwoPlatformIndexAsync(string layoutPath, CancellationToken token)
    {
        var layout = await OciImageLayout.OpenAsync(layoutPath, token);
        var manifestDescriptor = (await layout.ReadIndexAsync(token)).Manifests[0];
        var manifest = ImageManifest.Parse(await layout.ReadBlobAsync(manifestDescriptor.Digest, token));
        EstargzLayers = manifest.Layers;
        EstargzManifest = manifestDescriptor with { Annotations = null, Platform = Platform.Default };
        var other = manifest with { Annotations = new Dictionary<string, string> { ["org.example.test"] = "the other platform" } };
        OtherPlatformManifest = await layout.WriteBlobAsync(MediaTypes.OciManifest, other.ToJsonBytes(), token) with { Platform = new Platform("linux", "s390x") };
        var index = new ImageIndex { Manifests = [EstargzManifest, OtherPlatformManifest] };
        EstargzIndex = await layout.WriteBlobAsync(MediaTypes.OciIndex, index.ToJsonBytes(), token);
        await layout.WriteIndexAsync(new ImageIndex { Manifests = [EstargzIndex.WithAnnotation(OciImageLayout.RefNameAnnotation, "multi")] }, token);
    }

    private static async Task<IReadOnlyList<Descriptor>> LayersAsync(string layoutPath, CancellationToken token)
    {
        var layout = await OciImageLayout.OpenAsync(layoutPath, token);
        var manifest = ImageManifest.Parse(await layout.ReadBlobAsync((await layout.ReadIndexAsync(token)).Manifests[0].Digest, token));
        return manifest.Layers;
    }
}
