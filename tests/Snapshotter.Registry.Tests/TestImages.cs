using Snapshotter.Oci;

namespace Snapshotter.Registry.Tests;

/// <summary>A made-up image (random "layer" bytes, a config naming their digests, a manifest) to push and pull.</summary>
internal sealed record TestImage(byte[] Config, IReadOnlyList<byte[]> Layers, ImageManifest Manifest, byte[] ManifestBytes, Platform Platform)
{
    public Descriptor ConfigDescriptor => Manifest.Config;

    public Digest ManifestDigest => Digest.Compute(ManifestBytes);

    public static TestImage Create(int seed, Platform? platform = null, params int[] layerSizes)
    {
        platform ??= Platform.Default;
        var random = new Random(seed);
        var layers = (layerSizes.Length == 0 ? [300_000, 70_000] : layerSizes).Select(size =>
        {
            var bytes = new byte[size];
            random.NextBytes(bytes);
            return bytes;
        }).ToList();
        var config = ImageConfig.Create(platform, layers.Select(l => Digest.Compute(l))).ToJsonBytes();
        var manifest = new ImageManifest
        {
            Config = Descriptor.For(MediaTypes.OciConfig, config),
            Layers = layers.Select(l => Descriptor.For(MediaTypes.OciLayerGzip, l)).ToList(),
        };
        return new TestImage(config, layers, manifest, manifest.ToJsonBytes(), platform);
    }

    /// <summary>Pushes blobs and the manifest under <paramref name="reference"/>'s tag.</summary>
    public async Task PushAsync(IRegistryPusher pusher, ImageReference reference, BlobPushOptions? options = null, CancellationToken cancellationToken = default)
    {
        await pusher.PushBlobAsync(reference, ConfigDescriptor, () => new MemoryStream(Config), options, cancellationToken);
        for (var i = 0; i < Layers.Count; i++)
        {
            var layer = Layers[i];
            await pusher.PushBlobAsync(reference, Manifest.Layers[i], () => new MemoryStream(layer), options, cancellationToken);
        }
        await pusher.PushManifestAsync(reference, MediaTypes.OciManifest, ManifestBytes, cancellationToken);
    }
}
