using System.Text;
using Snapshotter.Containerd;
using Snapshotter.Containerd.Pull;
using Snapshotter.Oci;

namespace Snapshotter.Containerd.Tests;

public sealed class PullLabelsTests
{
    private static readonly Digest A = Digest.Compute("a"u8);
    private static readonly Digest B = Digest.Compute("b"u8);
    private static readonly Digest C = Digest.Compute("c"u8);

    [Fact]
    public void Chain_ids_start_with_the_first_diff_id_and_hash_parent_space_diff_id()
    {
        var chain = ChainIds.Compute([A, B, C]);
        Assert.Equal(A, chain[0]);
        Assert.Equal(Digest.Compute(Encoding.ASCII.GetBytes($"{A} {B}")), chain[1]);
        Assert.Equal(Digest.Compute(Encoding.ASCII.GetBytes($"{chain[1]} {C}")), chain[2]);
        Assert.Empty(ChainIds.Compute([]));
    }

    [Fact]
    public void Gc_references_number_layers_and_manifests_per_kind_as_containerd_does()
    {
        var labels = PullLabels.GcReferences([
            Layer(MediaTypes.OciConfig, A), Layer(MediaTypes.OciLayerGzip, B), Layer(MediaTypes.DockerLayerGzip, C),
            Layer(MediaTypes.OciManifest, A), Layer(MediaTypes.DockerManifest, B), Layer("application/vnd.example+json", C), Layer("application/x-other", A),
        ]);
        Assert.Equal(new Dictionary<string, string>
        {
            ["containerd.io/gc.ref.content.config"] = A.Value,
            ["containerd.io/gc.ref.content.l.0"] = B.Value,
            ["containerd.io/gc.ref.content.l.1"] = C.Value,
            ["containerd.io/gc.ref.content.m.0"] = A.Value,
            ["containerd.io/gc.ref.content.m.1"] = B.Value,
            ["containerd.io/gc.ref.content.0"] = C.Value,
            ["containerd.io/gc.ref.content.1"] = A.Value,
        }, labels);
    }

    [Theory]
    [InlineData("127.0.0.1:5000/lazy:1", "containerd.io/distribution.source.127.0.0.1", "lazy")]
    [InlineData("ubuntu", "containerd.io/distribution.source.docker.io", "library/ubuntu")]
    [InlineData("[::1]:5000/a/b:c", "containerd.io/distribution.source.::1", "a/b")]
    public void Distribution_source_names_the_host_without_port_and_the_repository(string reference, string key, string value)
    {
        var label = PullLabels.DistributionSource(ImageReference.Parse(reference));
        Assert.Equal(new KeyValuePair<string, string>(key, value), label);
    }

    [Fact]
    public void Distribution_source_merges_repositories_sorted_and_gives_up_past_the_label_limit()
    {
        var reference = ImageReference.Parse("ghcr.io/m/n:1");
        Assert.Equal("a/b,m/n,z", PullLabels.DistributionSource(reference, "z,a/b")!.Value.Value);
        Assert.Equal("m/n", PullLabels.DistributionSource(reference, "m/n")!.Value.Value);
        Assert.Null(PullLabels.DistributionSource(reference, new string('x', 4096)));
    }

    [Fact]
    public void Layer_labels_carry_the_snapshot_annotations_the_target_chain_and_both_remote_families()
    {
        var layers = new[]
        {
            Layer(MediaTypes.OciLayerGzip, A) with
            {
                Annotations = new Dictionary<string, string>
                {
                    ["containerd.io/snapshot/stargz/toc.digest"] = C.Value,
                    ["containerd.io/snapshot/stargz/uncompressed_size"] = "42",
                    ["org.opencontainers.image.title"] = "not passed",
                },
            },
            Layer(MediaTypes.OciLayerGzip, B),
        };
        var labels = PullLabels.ForLayer("r.example/x:1@" + C, C, layers, 0, A);
        Assert.Equal(new Dictionary<string, string>
        {
            ["containerd.io/snapshot/stargz/toc.digest"] = C.Value,
            ["containerd.io/snapshot/stargz/uncompressed_size"] = "42",
            ["containerd.io/snapshot.ref"] = A.Value,
            ["containerd.io/snapshot/remote/stargz.reference"] = "r.example/x:1@" + C,
            ["containerd.io/snapshot/remote/stargz.digest"] = A.Value,
            ["containerd.io/snapshot/remote/stargz.layers"] = $"{A},{B}",
            ["containerd.io/snapshot/cri.image-ref"] = "r.example/x:1@" + C,
            ["containerd.io/snapshot/cri.manifest-digest"] = C.Value,
            ["containerd.io/snapshot/cri.layer-digest"] = A.Value,
            ["containerd.io/snapshot/cri.image-layers"] = $"{A},{B}",
        }, labels);
        Assert.Equal(B.Value, PullLabels.ForLayer("r.example/x:1", C, layers, 1, B)[PullLabels.StargzLayers]);
    }

    [Fact]
    public void Layer_lists_are_cut_to_whole_digests_within_the_label_limit()
    {
        var layers = Enumerable.Range(0, 100).Select(i => Layer(MediaTypes.OciLayerGzip, Digest.Compute(BitConverter.GetBytes(i)))).ToList();
        var labels = PullLabels.ForLayer("r.example/x:1", C, layers, 0, A);
        foreach (var key in new[] { PullLabels.StargzLayers, PullLabels.CriImageLayers })
        {
            var value = labels[key];
            Assert.True(key.Length + value.Length <= PullLabels.MaxLabelSize);
            var listed = value.Split(',');
            Assert.Equal(layers.Take(listed.Length).Select(l => l.Digest.Value), listed);
            Assert.True(key.Length + value.Length + 72 > PullLabels.MaxLabelSize, "as many digests as fit");
        }
    }

    [Fact]
    public void Ingest_references_name_the_kind_as_containerd_does()
    {
        Assert.Equal($"manifest-{A}", ContentStore.IngestReference(Layer(MediaTypes.DockerManifest, A)));
        Assert.Equal($"index-{A}", ContentStore.IngestReference(Layer(MediaTypes.OciIndex, A)));
        Assert.Equal($"layer-{A}", ContentStore.IngestReference(Layer(MediaTypes.OciLayerGzip, A)));
        Assert.Equal($"config-{A}", ContentStore.IngestReference(Layer(MediaTypes.OciConfig, A)));
    }

    private static Descriptor Layer(string mediaType, Digest digest) => new() { MediaType = mediaType, Digest = digest, Size = 1 };
}
