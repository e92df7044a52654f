using System.Text.Json;
using Snapshotter.Oci;
using Snapshotter.Registry;
using Snapshotter.Testing;

namespace Estargz.Tools.Tests;

/// <summary>
/// `estargz convert SRC_REF DST_REF` against real docker-registry processes (Basic and token auth,
/// credentials from a Docker config): the same images as the OCI-layout path, blobs skipped when
/// present and mounted within one registry, idempotent re-runs, platform selection, and a corrupt
/// source blob that fails with exit code 1 before any manifest is pushed.
/// </summary>
public sealed class RegistryConversionTests
{
    private const string TocAnnotation = "containerd.io/snapshot/stargz/toc.digest";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Within_one_registry_layers_are_converted_once_kept_layers_mounted_and_a_rerun_skips_every_blob()
    {
        using var directory = new TempDirectory();
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Basic });
        using var setup = RegistrySetup.For(registry);
        var original = await TestImages.LayoutAsync(directory.Combine("original"), "v1", TestImages.RichLayers());
        var viaLayout = directory.Combine("via-layout");
        await EstargzCli.OutputOfAsync("convert", "--quiet", original, viaLayout);
        await RegistrySetup.PushAsync(original, registry, $"{registry.Host}/src:v1");
        await RegistrySetup.PushAsync(viaLayout, registry, $"{registry.Host}/esgz:v1");

        // Plain layers: converted and uploaded; the result is byte for byte the layout path's.
        var first = await ConvertAsync(setup, $"{registry.Host}/src:v1", $"{registry.Host}/dst:v1");
        var expectedDigest = (await (await OciImageLayout.OpenAsync(viaLayout, Token)).ReadIndexAsync(Token)).Manifests.Single().Digest.Value;
        Assert.Equal(expectedDigest, first.GetProperty("digest").GetString());
        Assert.Equal((2, 0, 2, 0, 0), Counts(first));
        await AssertLayersVerifyAsync(setup, ImageReference.Parse($"{registry.Host}/dst:v1"), directory);

        // Again: the same digest, nothing uploaded.
        var again = await ConvertAsync(setup, $"{registry.Host}/src:v1", $"{registry.Host}/dst:v1");
        Assert.Equal(expectedDigest, again.GetProperty("digest").GetString());
        Assert.Equal((2, 0, 0, 2, 0), Counts(again));

        // Layers that already are eStargz are kept, and linked from their repository instead of uploaded.
        var kept = await ConvertAsync(setup, $"{registry.Host}/esgz:v1", $"{registry.Host}/other:v1");
        Assert.Equal(expectedDigest, kept.GetProperty("digest").GetString());
        Assert.Equal((0, 2, 0, 0, 2), Counts(kept));

        // From a registry into a layout: the same image, named by the source's tag.
        var pulled = directory.Combine("pulled");
        await ConvertAsync(setup, $"{registry.Host}/src:v1", pulled);
        var entry = (await (await OciImageLayout.OpenAsync(pulled, Token)).ReadIndexAsync(Token)).Manifests.Single();
        Assert.Equal((expectedDigest, "v1"), (entry.Digest.Value, entry.Annotation(OciImageLayout.RefNameAnnotation)));

        // --force converts them again (from their tar content, which is the same): same bytes, already there.
        var forced = await ConvertAsync(setup, "--force", $"{registry.Host}/esgz:v1", $"{registry.Host}/forced:v1");
        Assert.Equal(expectedDigest, forced.GetProperty("digest").GetString());
        Assert.Equal(2, Counts(forced).Converted);
    }

    [Fact]
    public async Task Across_registries_with_token_auth_a_multi_platform_index_is_converted_whole_or_for_one_platform()
    {
        using var directory = new TempDirectory();
        await using var source = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Basic });
        await using var target = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Token });
        using var setup = RegistrySetup.For(source, target);
        var amd64 = new Platform("linux", "amd64");
        var arm64 = new Platform("linux", "arm64", "v8");
        var layout = await TestImages.MultiPlatformLayoutAsync(directory.Combine("multi"), "v1", TestImages.RichLayers()[0], amd64, arm64);
        await RegistrySetup.PushAsync(layout, source, $"{source.Host}/multi:v1");

        var all = await ConvertAsync(setup, $"{source.Host}/multi:v1", $"{target.Host}/multi:esgz");
        Assert.Equal(2, all.GetProperty("manifests").GetArrayLength());
        Assert.Equal((3, 0, 3, 0, 0), Counts(all)); // the shared layer once, one own layer per platform
        var top = await setup.Client.GetManifestAsync(ImageReference.Parse($"{target.Host}/multi:esgz"), Token);
        Assert.Equal(MediaTypes.OciIndex, top.MediaType);
        Assert.Equal(top.Digest.Value, all.GetProperty("digest").GetString());
        Assert.Equal([amd64, arm64], ImageIndex.Parse(top.Bytes).Manifests.Select(m => m.Platform));
        var manifests = await setup.ManifestsAsync(ImageReference.Parse($"{target.Host}/multi:esgz"), Token);
        Assert.Equal(manifests[0].Layers[0].Digest, manifests[1].Layers[0].Digest);
        await AssertLayersVerifyAsync(setup, ImageReference.Parse($"{target.Host}/multi:esgz"), directory);

        // One platform: an index of just that image, whose blobs the target has already.
        var one = await ConvertAsync(setup, "--platform", "linux/arm64", $"{source.Host}/multi:v1", $"{target.Host}/multi:arm64");
        var arm = ImageIndex.Parse((await setup.Client.GetManifestAsync(ImageReference.Parse($"{target.Host}/multi:arm64"), Token)).Bytes);
        Assert.Equal([arm64], arm.Manifests.Select(m => m.Platform));
        Assert.Equal((2, 0, 0, 2, 0), Counts(one));

        // eStargz layers from another registry cannot be mounted: kept, and uploaded.
        var back = await ConvertAsync(setup, $"{target.Host}/multi:esgz", $"{source.Host}/back:v1");
        Assert.Equal((0, 3, 3, 0, 0), Counts(back));
    }

    [Fact]
    public async Task A_corrupt_source_blob_fails_with_exit_code_1_and_no_manifest_is_pushed()
    {
        using var directory = new TempDirectory();
        await using var registry = await DockerRegistryFixture.StartAsync();
        using var setup = RegistrySetup.For(registry);
        var original = await TestImages.LayoutAsync(directory.Combine("original"), "v1", TestImages.RichLayers());
        await RegistrySetup.PushAsync(original, registry, $"{registry.Host}/src:v1");
        var (manifest, _) = await SampleImage.ReadAsync(original);
        // The registry serves what its storage holds; flip a byte of the second layer there.
        var data = Path.Combine(registry.RootDirectory, "docker", "registry", "v2", "blobs", "sha256", manifest.Layers[1].Digest.Hex[..2], manifest.Layers[1].Digest.Hex, "data");
        var bytes = await File.ReadAllBytesAsync(data, Token);
        bytes[bytes.Length / 2] ^= 0x40;
        await File.WriteAllBytesAsync(data, bytes, Token);

        var result = await setup.EstargzAsync("convert", "--quiet", $"{registry.Host}/src:v1", $"{registry.Host}/dst:v1");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("digest mismatch", result.StandardError, StringComparison.Ordinal);
        Assert.Contains(manifest.Layers[1].Digest.Value, result.StandardError, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<RegistryException>(() => setup.Client.GetManifestAsync(ImageReference.Parse($"{registry.Host}/dst:v1"), Token));
        Assert.True(error.IsNotFound);
    }

    [Fact]
    public async Task Missing_images_and_unreachable_registries_have_distinct_exit_codes()
    {
        await using var registry = await DockerRegistryFixture.StartAsync();
        using var setup = RegistrySetup.For(registry);
        var missing = await setup.EstargzAsync("convert", $"{registry.Host}/nothing:here", $"{registry.Host}/dst:v1");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("not found", missing.StandardError, StringComparison.Ordinal);

        var closed = await setup.EstargzAsync("convert", "127.0.0.1:1/nothing:here", $"{registry.Host}/dst:v1");
        Assert.Equal(3, closed.ExitCode);
        Assert.StartsWith("estargz: error:", closed.StandardError, StringComparison.Ordinal);

        var digestTarget = await setup.EstargzAsync("convert", $"{registry.Host}/nothing:here", $"{registry.Host}/dst@sha256:{new string('a', 64)}");
        Assert.Equal(1, digestTarget.ExitCode);
    }

    private static async Task<JsonElement> ConvertAsync(RegistrySetup setup, params string[] args)
    {
        var result = (await setup.EstargzAsync(["convert", "--json", .. args])).EnsureSuccess();
        Assert.Empty(result.StandardError);
        return JsonDocument.Parse(result.StandardOutput).RootElement.Clone();
    }

    private static (int Converted, int Kept, int Stored, int Skipped, int Mounted) Counts(JsonElement summary)
    {
        var layers = summary.GetProperty("layers");
        return (layers.GetProperty("converted").GetInt32(), layers.GetProperty("kept").GetInt32(), layers.GetProperty("stored").GetInt32(),
            layers.GetProperty("skipped").GetInt32(), layers.GetProperty("mounted").GetInt32());
    }

    /// <summary>Every layer of the pushed image passes `estargz verify` with the TOC digest its manifest annotates.</summary>
    private static async Task AssertLayersVerifyAsync(RegistrySetup setup, ImageReference reference, TempDirectory directory)
    {
        foreach (var layer in (await setup.ManifestsAsync(reference, Token)).SelectMany(m => m.Layers).DistinctBy(l => l.Digest))
        {
            var path = directory.Combine(layer.Digest.Hex);
            await File.WriteAllBytesAsync(path, await setup.Client.GetBlobAsync(reference, layer, Token), Token);
            await EstargzCli.OutputOfAsync("verify", "--toc-digest", layer.Annotation(TocAnnotation)!, path);
        }
    }
}
