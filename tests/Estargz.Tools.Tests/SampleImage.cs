using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Estargz.Tools.Tests;

/// <summary>The demo's sample image (busybox + a web root, built offline by script/build-sample-image.sh) and helpers to read an OCI layout.</summary>
internal static class SampleImage
{
    public static async Task<string> BuildAsync(TempDirectory directory, string name = "sample")
    {
        Requirements.Tool("umoci", "umoci");
        var layout = directory.Combine(name);
        await ProcessRunner.OutputOfAsync(RepositoryPaths.Script("build-sample-image.sh"), layout);
        return layout;
    }

    public static async Task<(ImageManifest Manifest, ImageConfig Config)> ReadAsync(string layoutPath)
    {
        var layout = await OciImageLayout.OpenAsync(layoutPath);
        var descriptor = (await layout.ReadIndexAsync()).Manifests.Single();
        var manifest = ImageManifest.Parse(await layout.ReadBlobAsync(descriptor.Digest));
        var config = ImageConfig.Parse(await layout.ReadBlobAsync(manifest.Config.Digest));
        return (manifest, config);
    }

    /// <summary>Packs an OCI layout directory as the tar `ctr images import` takes.</summary>
    public static async Task<string> TarAsync(string layoutPath)
    {
        var tar = layoutPath + ".tar";
        await ProcessRunner.OutputOfAsync("tar", "-C", layoutPath, "-cf", tar, ".");
        return tar;
    }
}
