using System.Text;
using Snapshotter.Oci;
using Snapshotter.Registry;
using Snapshotter.Testing;

namespace Estargz.Tools.Tests;

/// <summary>
/// Registries for the conversion tests: a Docker config with the credentials of every registry
/// (what `estargz` reads through DOCKER_CONFIG), images pushed with skopeo, and a client that reads back.
/// </summary>
internal sealed class RegistrySetup : IDisposable
{
    private readonly TempDirectory _directory = new("docker-config");

    private RegistrySetup(IReadOnlyList<DockerRegistryFixture> registries)
    {
        Registries = registries;
        var auths = string.Join(",", registries.Where(r => r.Options.Auth != RegistryAuth.None)
            .Select(r => $"\"{r.Host}\":{{\"auth\":\"{Convert.ToBase64String(Encoding.UTF8.GetBytes(r.Options.Username + ":" + r.Options.Password))}\"}}"));
        File.WriteAllText(_directory.Combine("config.json"), $"{{\"auths\":{{{auths}}}}}");
        Client = new RegistryClient(new RegistryClientOptions { DockerConfigPath = _directory.Combine("config.json") });
    }

    public IReadOnlyList<DockerRegistryFixture> Registries { get; }

    /// <summary>DOCKER_CONFIG for the `estargz` process.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["DOCKER_CONFIG"] = _directory.Path };

    public RegistryClient Client { get; }

    public static RegistrySetup For(params DockerRegistryFixture[] registries)
    {
        Requirements.Tool("skopeo", "skopeo");
        return new RegistrySetup(registries);
    }

    /// <summary>Copies the image (or every image of the index) of an OCI layout to <paramref name="reference"/>, digests unchanged.</summary>
    public static async Task PushAsync(string layout, DockerRegistryFixture registry, string reference)
    {
        List<string> credentials = registry.Options.Auth == RegistryAuth.None ? [] : ["--dest-creds", $"{registry.Options.Username}:{registry.Options.Password}"];
        (await ProcessRunner.RunAsync("skopeo", ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", .. credentials, $"oci:{layout}", $"docker://{reference}"],
            TimeSpan.FromMinutes(2))).EnsureSuccess();
    }

    public Task<ProcessResult> EstargzAsync(params string[] args) => EstargzCli.RunWithAsync(Environment, args);

    /// <summary>The manifests of a pushed image: the one a reference names, or each of its index.</summary>
    public async Task<IReadOnlyList<ImageManifest>> ManifestsAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        var top = await Client.GetManifestAsync(reference, cancellationToken);
        if (!MediaTypes.IsIndex(top.MediaType))
        {
            return [ImageManifest.Parse(top.Bytes)];
        }
        var manifests = new List<ImageManifest>();
        foreach (var child in ImageIndex.Parse(top.Bytes).Manifests)
        {
            manifests.Add(ImageManifest.Parse((await Client.GetManifestAsync(reference.WithDigest(child.Digest), cancellationToken)).Bytes));
        }
        return manifests;
    }

    public void Dispose()
    {
        Client.Dispose();
        _directory.Dispose();
    }
}
