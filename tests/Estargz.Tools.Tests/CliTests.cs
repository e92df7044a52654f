using System.Text.Json;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Estargz.Tools.Tests;

/// <summary>The `estargz` command line as a CI pipeline meets it: outputs, exit codes and error messages.</summary>
public sealed class CliTests
{
    [Fact]
    public async Task Layer_conversion_prints_digests_and_the_blob_passes_toc_digest_and_inspect()
    {
        using var directory = new TempDirectory();
        var layer = directory.Combine("layer.tar");
        await File.WriteAllBytesAsync(layer, SampleLayers.AllEntryKinds().Build(), TestContext.Current.CancellationToken);
        var blob = directory.Combine("layer.esgz");

        using var summary = JsonDocument.Parse(await EstargzCli.OutputOfAsync("convert", "--json", layer, blob));
        var tocDigest = summary.RootElement.GetProperty("tocDigest").GetString();
        Assert.StartsWith("sha256:", tocDigest);
        Assert.Equal(new FileInfo(blob).Length, summary.RootElement.GetProperty("targetSize").GetInt64());

        Assert.Equal(tocDigest, (await EstargzCli.OutputOfAsync("toc-digest", blob)).Trim());
        using var toc = JsonDocument.Parse(await EstargzCli.OutputOfAsync("inspect", "--json", blob));
        Assert.Contains(toc.RootElement.GetProperty("entries").EnumerateArray(), e => e.GetProperty("name").GetString() == "etc/hostname");
        Assert.Contains("usr/lib/big.bin", await EstargzCli.OutputOfAsync("inspect", blob));
    }

    [Fact]
    public async Task Converting_the_same_input_twice_gives_the_same_bytes()
    {
        using var directory = new TempDirectory();
        var layer = directory.Combine("layer.tar");
        await File.WriteAllBytesAsync(layer, SampleLayers.AllEntryKinds().BuildGzip(), TestContext.Current.CancellationToken);
        await EstargzCli.OutputOfAsync("convert", layer, directory.Combine("a"));
        await EstargzCli.OutputOfAsync("convert", layer, directory.Combine("b"));
        Assert.Equal(await File.ReadAllBytesAsync(directory.Combine("a"), TestContext.Current.CancellationToken),
            await File.ReadAllBytesAsync(directory.Combine("b"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Image_conversion_annotates_layers_and_rewrites_diff_ids()
    {
        using var directory = new TempDirectory();
        var original = await TestImages.LayoutAsync(directory.Combine("original"), "v1", TestImages.RichLayers());
        var converted = directory.Combine("converted");
        using var summary = JsonDocument.Parse(await EstargzCli.OutputOfAsync("convert", "--json", original, converted));

        var (manifest, config) = await SampleImage.ReadAsync(converted);
        Assert.Equal(2, manifest.Layers.Count);
        var layers = summary.RootElement.GetProperty("manifests")[0].GetProperty("layers");
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            Assert.Equal(layers[i].GetProperty("tocDigest").GetString(), manifest.Layers[i].Annotation("containerd.io/snapshot/stargz/toc.digest"));
            Assert.Equal(layers[i].GetProperty("uncompressedSize").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
                manifest.Layers[i].Annotation("io.containers.estargz.uncompressed-size"));
            Assert.Equal(layers[i].GetProperty("diffId").GetString(), config.DiffIds[i].Value);
            Assert.Equal(layers[i].GetProperty("target").GetString(), manifest.Layers[i].Digest.Value);
            Assert.Null(manifest.Layers[i].Annotation(Snapshotter.Estargz.PrefetchHint.Annotation)); // no prefetch region: nothing to hint
            var blob = await File.ReadAllBytesAsync(Path.Combine(converted, "blobs", "sha256", manifest.Layers[i].Digest.Hex), TestContext.Current.CancellationToken);
            var reader = await Snapshotter.Estargz.EstargzReader.OpenAsync(new Snapshotter.Estargz.MemoryBlobSource(blob), null, cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(Snapshotter.Estargz.TocOffsetHint.Format(reader.TocOffset), manifest.Layers[i].Annotation(Snapshotter.Estargz.TocOffsetHint.Annotation));
            Assert.Equal(manifest.Layers[i].Size, Snapshotter.Estargz.TocOffsetHint.ParseSize(manifest.Layers[i].Annotation(Snapshotter.Estargz.TocOffsetHint.SizeAnnotation)));
        }

        // Converting the converted image keeps every layer as it is.
        using var again = JsonDocument.Parse(await EstargzCli.OutputOfAsync("convert", "--json", converted, directory.Combine("again")));
        Assert.All(again.RootElement.GetProperty("manifests")[0].GetProperty("layers").EnumerateArray(),
            l => Assert.False(l.GetProperty("converted").GetBoolean()));
        var (manifestAgain, configAgain) = await SampleImage.ReadAsync(directory.Combine("again"));
        Assert.Equal(manifest.Layers.Select(l => l.Digest), manifestAgain.Layers.Select(l => l.Digest));
        Assert.Equal(config.DiffIds, configAgain.DiffIds);
    }

    [Theory]
    [InlineData("toc-digest")]
    [InlineData("inspect")]
    public async Task A_blob_that_is_not_estargz_is_refused_with_a_clear_message(string command)
    {
        using var directory = new TempDirectory();
        var notEstargz = directory.Combine("plain.tar.gz");
        await File.WriteAllBytesAsync(notEstargz, SampleLayers.AllEntryKinds().BuildGzip(), TestContext.Current.CancellationToken);
        var result = await EstargzCli.RunAsync(command, notEstargz);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("footer", result.StandardError);
        Assert.Empty(result.StandardOutput);
    }

    [Fact]
    public async Task A_truncated_blob_is_refused()
    {
        using var directory = new TempDirectory();
        var layer = directory.Combine("layer.tar");
        await File.WriteAllBytesAsync(layer, SampleLayers.AllEntryKinds().Build(), TestContext.Current.CancellationToken);
        var blob = directory.Combine("layer.esgz");
        await EstargzCli.OutputOfAsync("convert", layer, blob);
        var bytes = await File.ReadAllBytesAsync(blob, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(blob, bytes[..(bytes.Length - 20)], TestContext.Current.CancellationToken);

        var result = await EstargzCli.RunAsync("toc-digest", blob);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("estargz: error:", result.StandardError);
    }

    [Fact]
    public async Task Converting_garbage_fails_and_leaves_no_output()
    {
        using var directory = new TempDirectory();
        var garbage = directory.Combine("garbage");
        await File.WriteAllBytesAsync(garbage, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray(), TestContext.Current.CancellationToken);
        var result = await EstargzCli.RunAsync("convert", garbage, directory.Combine("out"));
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("estargz: error:", result.StandardError);
        Assert.False(File.Exists(directory.Combine("out")));
    }

    [Fact]
    public async Task A_wrong_expected_TOC_digest_is_a_mismatch()
    {
        using var directory = new TempDirectory();
        var layer = directory.Combine("layer.tar");
        await File.WriteAllBytesAsync(layer, SampleLayers.AllEntryKinds().Build(), TestContext.Current.CancellationToken);
        var blob = directory.Combine("layer.esgz");
        await EstargzCli.OutputOfAsync("convert", layer, blob);
        var result = await EstargzCli.RunAsync("inspect", "--toc-digest", "sha256:" + new string('0', 64), blob);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("digest mismatch", result.StandardError);
    }

    [Fact]
    public async Task Verify_accepts_a_good_layer_and_rejects_a_flipped_byte_in_a_chunk()
    {
        using var directory = new TempDirectory();
        var layer = directory.Combine("layer.tar");
        await File.WriteAllBytesAsync(layer, SampleLayers.AllEntryKinds().Build(), TestContext.Current.CancellationToken);
        var blob = directory.Combine("layer.esgz");
        using var conversion = JsonDocument.Parse(await EstargzCli.OutputOfAsync("convert", "--json", layer, blob));
        var tocDigest = conversion.RootElement.GetProperty("tocDigest").GetString()!;

        using var ok = JsonDocument.Parse(await EstargzCli.OutputOfAsync("verify", "--json", "--toc-digest", tocDigest, blob));
        Assert.True(ok.RootElement.GetProperty("ok").GetBoolean());
        Assert.True(ok.RootElement.GetProperty("chunksVerified").GetInt32() > 0);

        // Corrupt one byte inside the payload of usr/lib/big.bin; the gzip member must then fail to verify.
        using var toc = JsonDocument.Parse(await EstargzCli.OutputOfAsync("inspect", "--json", blob));
        var big = toc.RootElement.GetProperty("entries").EnumerateArray().First(e => e.GetProperty("name").GetString() == "usr/lib/big.bin");
        var bytes = await File.ReadAllBytesAsync(blob, TestContext.Current.CancellationToken);
        bytes[big.GetProperty("offset").GetInt64() + 40] ^= 0x55;
        await File.WriteAllBytesAsync(blob, bytes, TestContext.Current.CancellationToken);

        var result = await EstargzCli.RunAsync("verify", blob);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("estargz: error:", result.StandardError);
        Assert.DoesNotContain("ok:", result.StandardOutput);
    }

    [Theory]
    [InlineData("convert")]
    [InlineData("convert", "--no-such-option", "a", "b")]
    [InlineData("verify")]
    public async Task Usage_errors_exit_with_2(params string[] args) =>
        Assert.Equal(2, (await EstargzCli.RunAsync(args)).ExitCode);
}
