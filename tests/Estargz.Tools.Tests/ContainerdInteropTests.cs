using System.IO.Compression;
using System.Text.Json;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Estargz.Tools.Tests;

/// <summary>
/// Our converter against the real Go tools: images we convert unpack with plain containerd
/// (overlayfs) to the original tree and `ctr-remote` agrees with our TOC digests; layers that
/// `ctr-remote image convert --estargz --oci` writes are read by our reader with the same bytes.
/// </summary>
public sealed class ContainerdInteropTests
{
    private const string TocAnnotation = "containerd.io/snapshot/stargz/toc.digest";

    // Files an eStargz layer adds to a plain unpack: the TOC and the prefetch landmark.
    private static readonly HashSet<string> EstargzFiles = ["stargz.index.json", ".no.prefetch.landmark", ".prefetch.landmark"];

    public static TheoryData<string> Images => new() { "rich", "busybox" };

    /// <summary>Each sample image as eStargz and as zstd:chunked.</summary>
    public static TheoryData<string, bool> ImagesAndFormats => new() { { "rich", false }, { "busybox", false }, { "rich", true }, { "busybox", true } };

    [Theory]
    [MemberData(nameof(ImagesAndFormats))]
    public async Task Our_conversion_unpacks_in_containerd_to_the_original_tree_and_ctr_remote_agrees_on_TOC_digests(string image, bool zstdChunked)
    {
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);
        using var directory = new TempDirectory();
        var original = await OriginalAsync(image, directory);
        var converted = directory.Combine("converted");
        await EstargzCli.OutputOfAsync(["convert", "--quiet", .. zstdChunked ? ["--zstdchunked", "--prefetch-group-size", "1048576"] : Array.Empty<string>(), original, converted]);

        await using var containerd = await ContainerdFixture.StartAsync();
        await containerd.CtrAsync("images", "import", "--base-name", "localhost/original", await SampleImage.TarAsync(original));
        await containerd.CtrAsync("images", "import", "--base-name", "localhost/converted", await SampleImage.TarAsync(converted));

        var (manifest, config) = await SampleImage.ReadAsync(converted);
        foreach (var layer in manifest.Layers)
        {
            Assert.Equal(zstdChunked ? MediaTypes.OciLayerZstd : MediaTypes.OciLayerGzip, layer.MediaType);
            Assert.Equal(zstdChunked, layer.Annotation(EstargzConstants.ZstdChunkedManifestPositionAnnotation) is not null);
            var theirs = (await containerd.CtrRemoteAsync(["images", "get-toc-digest", .. zstdChunked ? ["--zstdchunked"] : Array.Empty<string>(), layer.Digest.Value])).Trim();
            Assert.Equal(layer.Annotation(TocAnnotation), theirs);
        }

        var images = (await containerd.CtrAsync("images", "ls", "-q")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = await UnpackedTreeAsync(containerd, directory, images.Single(i => i.StartsWith("localhost/original", StringComparison.Ordinal)), started);
        var actual = await UnpackedTreeAsync(containerd, directory, images.Single(i => i.StartsWith("localhost/converted", StringComparison.Ordinal)), started);
        Assert.Empty(FileTree.Differences(expected, actual));
        Assert.NotEmpty(expected);
    }

    /// <summary>
    /// `"prefetch": true` on chunks is our extension of the TOC: Go's reader must still take the
    /// layer (ctr-remote computes the same TOC digest) and containerd must unpack it to the original tree.
    /// </summary>
    [Fact]
    public async Task An_image_optimized_with_prefetch_marks_on_chunks_unpacks_in_containerd_and_ctr_remote_agrees_on_its_TOC_digest()
    {
        var token = TestContext.Current.CancellationToken;
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);
        using var directory = new TempDirectory();
        var layer = new Snapshotter.Testing.Tar.TarBuilder().Directory("lib/")
            .File("lib/app.py", Snapshotter.Testing.Tar.SampleLayers.Pattern(5_000, 1))
            .File("lib/big.so", Snapshotter.Testing.Tar.SampleLayers.Pattern(600_000, 2))
            .File("lib/unread.txt", Snapshotter.Testing.Tar.SampleLayers.Pattern(9_000, 3))
            .Build();
        var original = await TestImages.LayoutAsync(directory.Combine("original"), "original", layer);
        await using var registry = await DockerRegistryFixture.StartAsync();
        using var setup = RegistrySetup.For(registry);
        await RegistrySetup.PushAsync(original, registry, $"{registry.Host}/app:v1");
        var sourceDigest = (await (await OciImageLayout.OpenAsync(original, token)).ReadIndexAsync(token)).Manifests.Single().Digest.Value;
        var record = directory.Combine("record.jsonl");
        await File.WriteAllLinesAsync(record,
        [
            $$"""{"path":"lib/app.py","manifestDigest":"{{sourceDigest}}","layerIndex":0,"ranges":[[0,5000]]}""",
            $$"""{"path":"lib/big.so","manifestDigest":"{{sourceDigest}}","layerIndex":0,"ranges":[[131072,65536]]}""",
        ], token);
        (await setup.EstargzAsync("optimize", "--quiet", "--chunk-size", "65536", "--prefetch-list", record, $"{registry.Host}/app:v1", $"{registry.Host}/app:opt")).EnsureSuccess();

        var optimized = ImageReference.Parse($"{registry.Host}/app:opt");
        var manifest = (await setup.ManifestsAsync(optimized, token)).Single();
        var blob = new MemoryBlobSource(await setup.Client.GetBlobAsync(optimized, manifest.Layers[0], token));
        var reader = await EstargzReader.OpenAsync(blob, Digest.Parse(manifest.Layers[0].Annotation(TocAnnotation)!), cancellationToken: token);
        var marks = reader.GetChunks(reader.GetEntry("lib/big.so")).Select(c => c.Prefetch).ToList();
        Assert.Contains(true, marks);
        Assert.Contains(false, marks);

        await using var containerd = await ContainerdFixture.StartAsync();
        await containerd.CtrAsync("images", "import", "--base-name", "localhost/original", await SampleImage.TarAsync(original));
        await containerd.CtrAsync("images", "pull", "--plain-http", optimized.ToString());
        var theirs = (await containerd.CtrRemoteAsync("images", "get-toc-digest", manifest.Layers[0].Digest.Value)).Trim();
        Assert.Equal(manifest.Layers[0].Annotation(TocAnnotation), theirs);
        var images = (await containerd.CtrAsync("images", "ls", "-q")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = await UnpackedTreeAsync(containerd, directory, images.Single(i => i.StartsWith("localhost/original", StringComparison.Ordinal)), started);
        var actual = await UnpackedTreeAsync(containerd, directory, optimized.ToString(), started);
        Assert.Empty(FileTree.Differences(expected, actual));
        Assert.Contains(expected, e => e.Path == "lib/big.so");
    }

    [Theory]
    [MemberData(nameof(ImagesAndFormats))]
    public async Task Layers_converted_by_ctr_remote_are_read_by_our_reader_with_the_original_bytes(string image, bool zstdChunked)
    {
        using var directory = new TempDirectory();
        var original = await OriginalAsync(image, directory);
        await using var containerd = await ContainerdFixture.StartAsync();
        await containerd.CtrAsync("images", "import", "--base-name", "localhost/original", await SampleImage.TarAsync(original));
        var name = (await containerd.CtrAsync("images", "ls", "-q")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Single();
        await containerd.CtrRemoteAsync(["images", "convert", zstdChunked ? "--zstdchunked" : "--estargz", "--oci", name, "localhost/go:esgz"]);
        var exported = directory.Combine("go.tar");
        await containerd.CtrAsync("images", "export", exported, "localhost/go:esgz");
        var goLayout = directory.Combine("go");
        Directory.CreateDirectory(goLayout);
        await ProcessRunner.OutputOfAsync("tar", "-C", goLayout, "-xf", exported);

        var goLayers = await ManifestLayersAsync(goLayout);
        var (originalManifest, _) = await SampleImage.ReadAsync(original);
        Assert.Equal(originalManifest.Layers.Count, goLayers.Count);
        for (var i = 0; i < goLayers.Count; i++)
        {
            // Our reader, told the TOC digest ctr-remote annotated, must open the layer and give back every file's bytes.
            using var blob = new FileBlobSource(Path.Combine(goLayout, "blobs", "sha256", goLayers[i].Digest.Hex));
            var reader = await EstargzReader.OpenAsync(blob, Digest.Parse(goLayers[i].Annotation(TocAnnotation)!), cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(zstdChunked ? EstargzFormat.ZstdChunked : EstargzFormat.Estargz, reader.Format);
            var originalTar = Gunzip(await File.ReadAllBytesAsync(Path.Combine(original, "blobs", "sha256", originalManifest.Layers[i].Digest.Hex), TestContext.Current.CancellationToken));
            await TarComparison.AssertReaderMatchesTarAsync(originalTar, reader);
        }
    }

    private static async Task<string> OriginalAsync(string image, TempDirectory directory) => image switch
    {
        "rich" => await TestImages.LayoutAsync(directory.Combine("original"), "original", TestImages.RichLayers()),
        _ => await SampleImage.BuildAsync(directory, "original"),
    };

    /// <summary>
    /// Mounts containerd's unpack of an image read-only (`ctr images mount` holds a lease, so the
    /// view survives containerd's GC) and reads its tree. Directories that the layers only imply
    /// are created at unpack time, so their times are those of the unpack, not of the image.
    /// </summary>
    private static async Task<IReadOnlyList<FileTreeEntry>> UnpackedTreeAsync(ContainerdFixture containerd, TempDirectory directory, string image, DateTimeOffset unpackedAfter)
    {
        var target = directory.Combine("mnt-" + image.Replace('/', '-').Replace(':', '-'));
        Directory.CreateDirectory(target);
        await containerd.CtrAsync("images", "mount", image, target);
        try
        {
            return FileTree.Read(target, EstargzFiles)
                .Select(e => e.Type == 'd' && e.ModifiedSeconds >= unpackedAfter.ToUnixTimeSeconds() ? e with { ModifiedSeconds = 0 } : e)
                .ToList();
        }
        finally
        {
            await containerd.CtrAsync("images", "unmount", "--rm", target);
        }
    }

    private static async Task<IReadOnlyList<Descriptor>> ManifestLayersAsync(string layoutPath)
    {
        var layout = await OciImageLayout.OpenAsync(layoutPath);
        var descriptor = (await layout.ReadIndexAsync()).Manifests.Single();
        var document = await layout.ReadBlobAsync(descriptor.Digest);
        if (MediaTypes.IsIndex(ManifestKind.Detect(document, descriptor.MediaType)))
        {
            descriptor = ImageIndex.Parse(document).SelectPlatform();
            document = await layout.ReadBlobAsync(descriptor.Digest);
        }
        return ImageManifest.Parse(document).Layers;
    }

    private static byte[] Gunzip(byte[] data)
    {
        using var input = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }
}
