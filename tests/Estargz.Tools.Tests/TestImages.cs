using System.IO.Compression;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Estargz.Tools.Tests;

/// <summary>Builds OCI image layouts in code from tar layers, for conversion and interop tests.</summary>
internal static class TestImages
{
    /// <summary>A one-image layout whose layers are the given tars, gzip-compressed, tagged <paramref name="refName"/>.</summary>
    public static Task<string> LayoutAsync(string path, string refName, params byte[][] tars) => LayoutAsync(path, refName, _ => { }, tars);

    /// <summary>As above, with the config edited by <paramref name="configure"/> (e.g. to give the image a command).</summary>
    public static async Task<string> LayoutAsync(string path, string refName, Action<ImageConfig> configure, params byte[][] tars)
    {
        var layout = await OciImageLayout.CreateAsync(path);
        var layers = new List<Descriptor>();
        foreach (var tar in tars)
        {
            layers.Add(await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, Gzip(tar)));
        }
        var config = ImageConfig.Create(Platform.Default, tars.Select(t => Digest.Compute(t)));
        configure(config);
        var configDescriptor = await layout.WriteBlobAsync(MediaTypes.OciConfig, config.ToJsonBytes());
        var manifest = new ImageManifest { Config = configDescriptor, Layers = layers };
        await layout.AddManifestAsync(MediaTypes.OciManifest, manifest.ToJsonBytes(), refName);
        return path;
    }

    /// <summary>
    /// A layout whose one entry is an index of one image per platform: each has the shared layer
    /// <paramref name="shared"/> below a small layer of its own naming the platform.
    /// </summary>
    public static async Task<string> MultiPlatformLayoutAsync(string path, string refName, byte[] shared, params Platform[] platforms)
    {
        var layout = await OciImageLayout.CreateAsync(path);
        var sharedLayer = await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, Gzip(shared));
        var manifests = new List<Descriptor>();
        foreach (var platform in platforms)
        {
            var own = new TarBuilder().Directory("etc/").File("etc/platform", platform + "\n").Build();
            var ownLayer = await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, Gzip(own));
            var config = ImageConfig.Create(platform, [Digest.Compute(shared), Digest.Compute(own)]);
            var configDescriptor = await layout.WriteBlobAsync(MediaTypes.OciConfig, config.ToJsonBytes());
            var manifest = new ImageManifest { Config = configDescriptor, Layers = [sharedLayer, ownLayer] };
            manifests.Add(await layout.WriteBlobAsync(MediaTypes.OciManifest, manifest.ToJsonBytes()) with { Platform = platform });
        }
        var index = new ImageIndex { Manifests = manifests };
        await layout.AddManifestAsync(MediaTypes.OciIndex, index.ToJsonBytes(), refName);
        return path;
    }

    /// <summary>Every tar entry kind, plus a second layer that whites out and replaces parts of the first.</summary>
    public static byte[][] RichLayers() =>
    [
        KernelAcceptable(SampleLayers.AllEntryKinds()).Build(),
        new TarBuilder()
            .Directory("etc/")
            .File("etc/hostname", "upper\n")
            .Whiteout("etc/owned")
            .Directory("usr/")
            .Directory("usr/lib/")
            .OpaqueWhiteout("usr/lib")
            .File("usr/lib/only.txt", "only this\n")
            .Build(),
    ];

    // The kernel validates security.capability values; containerd's unpack (rightly) fails on a
    // made-up one, so the containerd tests keep only xattrs any filesystem takes.
    private static TarBuilder KernelAcceptable(TarBuilder layer)
    {
        var result = new TarBuilder();
        foreach (var entry in layer.Entries)
        {
            result.Add(entry with { Xattrs = entry.Xattrs.Where(x => x.Key.StartsWith("user.", StringComparison.Ordinal)).ToDictionary() });
        }
        return result;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }
}
