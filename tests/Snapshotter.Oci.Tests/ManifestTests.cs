using System.Text;
using System.Text.Json.Nodes;
using Snapshotter.Oci;

namespace Snapshotter.Oci.Tests;

public class ManifestTests
{
    private static readonly string D1 = Digest.Compute("one"u8).Value;
    private static readonly string D2 = Digest.Compute("two"u8).Value;
    private static readonly string D3 = Digest.Compute("three"u8).Value;

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string DockerManifestJson => $$$"""
        {
          "schemaVersion": 2,
          "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
          "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": "{{{D1}}}"},
          "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811969, "digest": "{{{D2}}}",
             "annotations": {"containerd.io/snapshot/stargz/toc.digest": "{{{D3}}}"}},
            {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "size": 10, "digest": "{{{D3}}}",
             "urls": ["https://example.com/layer"]}
          ]
        }
        """;

    [Fact]
    public void Docker_schema2_manifest_parses_with_annotations_and_urls()
    {
        var manifest = ImageManifest.Parse(Utf8(DockerManifestJson));
        Assert.Equal(MediaTypes.DockerManifest, manifest.MediaType);
        Assert.Equal(D1, manifest.Config.Digest.Value);
        Assert.Equal(2, manifest.Layers.Count);
        Assert.Equal(D3, manifest.Layers[0].Annotation("containerd.io/snapshot/stargz/toc.digest"));
        Assert.Equal(LayerCompression.Gzip, MediaTypes.CompressionOf(manifest.Layers[0].MediaType));
        Assert.True(MediaTypes.IsNondistributable(manifest.Layers[1].MediaType));
        Assert.Equal(["https://example.com/layer"], manifest.Layers[1].Urls!);
    }

    [Fact]
    public void Manifest_round_trip_keeps_unknown_fields()
    {
        var json = $$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{D1}}}","size":3,"x-desc":1},
             "layers":[],"x-top":{"keep":true}}
            """;
        var manifest = ImageManifest.Parse(Utf8(json));
        var written = JsonNode.Parse(manifest.ToJsonBytes())!;
        Assert.True(written["x-top"]!["keep"]!.GetValue<bool>());
        Assert.Equal(1, written["config"]!["x-desc"]!.GetValue<int>());
        Assert.Null(written["annotations"]);
        Assert.Equal(manifest.ToJsonBytes(), ImageManifest.Parse(manifest.ToJsonBytes()).ToJsonBytes());
    }

    [Theory]
    [InlineData("not json", "invalid image manifest")]
    [InlineData("[]", "invalid image manifest")]
    [InlineData("""{"schemaVersion":1,"config":{"mediaType":"a","digest":"DIGEST","size":1},"layers":[]}""", "schemaVersion 1")]
    [InlineData("""{"schemaVersion":2,"layers":[]}""", "config")]
    [InlineData("""{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:nothex","size":1},"layers":[]}""", "invalid digest")]
    [InlineData("""{"schemaVersion":2,"config":{"mediaType":"a","digest":"DIGEST","size":-1},"layers":[]}""", "negative size")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"mediaType":"a","digest":"DIGEST","size":1},"layers":[]}""", "is not an image manifest")]
    [InlineData("""{"schemaVersion":2,"config":{"mediaType":"a","digest":"DIGEST","size":1},"layers":[null]}""", "null descriptor in layers")]
    [InlineData("""{"schemaVersion":2,"schemaVersion":2,"config":{"mediaType":"a","digest":"DIGEST","size":1},"layers":[]}""", "invalid image manifest")]
    public void Malformed_manifests_fail_with_a_clear_message(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => ImageManifest.Parse(Utf8(json.Replace("DIGEST", D1))));
        Assert.Contains(expected, error.Message);
    }

    private static string IndexJson => $$$"""
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{{{D1}}}","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v6"}},
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{{{D2}}}","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{D3}}}","size":1,"platform":{"os":"linux","architecture":"x86_64"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{D1}}}","size":1,"platform":{"os":"linux","architecture":"aarch64","variant":"v8"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{D2}}}","size":1,"platform":{"os":"unknown","architecture":"unknown"}}
        ]}
        """;

    [Theory]
    [InlineData("linux/amd64", 2)]
    [InlineData("linux/arm64", 3)]
    [InlineData("linux/arm/v7", 1)]
    [InlineData("linux/arm/v6", 0)]
    public void Index_selects_the_best_platform(string platform, int expectedIndex)
    {
        var index = ImageIndex.Parse(Utf8(IndexJson));
        Assert.Same(index.Manifests[expectedIndex], index.SelectPlatform(Platform.Parse(platform)));
    }

    [Fact]
    public void Index_without_the_platform_names_what_it_has()
    {
        var index = ImageIndex.Parse(Utf8(IndexJson));
        var error = Assert.Throws<PlatformNotFoundException>(() => index.SelectPlatform(Platform.Parse("linux/s390x")));
        Assert.Contains("linux/s390x", error.Message);
        Assert.Contains("linux/arm/v6", error.Message);
        Assert.Contains("linux/amd64", error.Message);
    }

    [Fact]
    public void Index_default_platform_is_this_machine()
    {
        var index = ImageIndex.Parse(Utf8(IndexJson));
        var chosen = index.SelectPlatform();
        Assert.True(Platform.Default.Matches(chosen.Platform!));
    }

    [Theory]
    [InlineData("""{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}""", null, MediaTypes.OciIndex)]
    [InlineData("""{"manifests":[]}""", "application/json", MediaTypes.OciIndex)]
    [InlineData("""{"config":{}, "layers":[]}""", null, MediaTypes.OciManifest)]
    [InlineData("""{}""", "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8", MediaTypes.DockerManifest)]
    public void ManifestKind_detects_the_type(string json, string? contentType, string expected) =>
        Assert.Equal(expected, ManifestKind.Detect(Utf8(json), contentType));

    [Theory]
    [InlineData("{")]
    [InlineData("{}")]
    [InlineData("42")]
    public void ManifestKind_rejects_what_is_neither(string json) =>
        Assert.Throws<FormatException>(() => ManifestKind.Detect(Utf8(json)));

    [Fact]
    public void Config_diff_ids_are_replaced_without_losing_other_fields()
    {
        var json = $$$"""
            {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},
             "rootfs":{"type":"layers","diff_ids":["{{{D1}}}","{{{D2}}}"]},
             "history":[{"created_by":"x"}],"x-vendor":{"a":[1,2,3]}}
            """;
        var config = ImageConfig.Parse(Utf8(json));
        Assert.Equal([Digest.Parse(D1), Digest.Parse(D2)], config.DiffIds);
        Assert.Equal(Platform.Parse("linux/amd64"), config.Platform);

        config.DiffIds = [Digest.Parse(D3)];
        var written = JsonNode.Parse(config.ToJsonBytes())!;
        Assert.Equal(D3, written["rootfs"]!["diff_ids"]![0]!.GetValue<string>());
        Assert.Single(written["rootfs"]!["diff_ids"]!.AsArray());
        Assert.Equal("PATH=/bin", written["config"]!["Env"]![0]!.GetValue<string>());
        Assert.Equal("x", written["history"]![0]!["created_by"]!.GetValue<string>());
        Assert.Equal(3, written["x-vendor"]!["a"]![2]!.GetValue<int>());
        Assert.Equal([Digest.Parse(D3)], ImageConfig.Parse(config.ToJsonBytes()).DiffIds);
    }

    [Theory]
    [InlineData("""{"rootfs":{"diff_ids":"x"}}""", "not a list")]
    [InlineData("""{"rootfs":{"diff_ids":["sha256:zz"]}}""", "diff_ids[0]")]
    [InlineData("""[1]""", "not a JSON object")]
    [InlineData("""{"a":""", "not JSON")]
    public void Bad_configs_fail_clearly(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => ImageConfig.Parse(Utf8(json)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Config_create_writes_platform_and_layers()
    {
        var config = ImageConfig.Create(Platform.Parse("linux/arm/v7"), [Digest.Parse(D1)]);
        var parsed = ImageConfig.Parse(config.ToJsonBytes());
        Assert.Equal("arm", parsed.Architecture);
        Assert.Equal("v7", parsed.Variant);
        Assert.Equal([Digest.Parse(D1)], parsed.DiffIds);
        Assert.Equal("layers", parsed.Json["rootfs"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public void Media_type_classification()
    {
        Assert.True(MediaTypes.IsIndex(MediaTypes.DockerManifestList));
        Assert.True(MediaTypes.IsManifest(MediaTypes.OciManifest));
        Assert.True(MediaTypes.IsConfig(MediaTypes.DockerConfig));
        Assert.True(MediaTypes.IsLayer(MediaTypes.OciLayerZstd));
        Assert.False(MediaTypes.IsLayer(MediaTypes.OciConfig));
        Assert.True(MediaTypes.IsNondistributable(MediaTypes.OciLayerNondistributableGzip));
        Assert.Equal(LayerCompression.Zstd, MediaTypes.CompressionOf(MediaTypes.OciLayerZstd));
        Assert.Equal(LayerCompression.None, MediaTypes.CompressionOf(MediaTypes.DockerLayer));
        Assert.Equal(MediaTypes.OciLayerGzip, MediaTypes.OciLayerFor(LayerCompression.Gzip));
        Assert.Throws<FormatException>(() => MediaTypes.CompressionOf(MediaTypes.OciConfig));
    }
}
