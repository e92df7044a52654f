using System.Text.Json;
using System.Text.Json.Nodes;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Estargz.Tools.Tests;

/// <summary>
/// `estargz optimize` end to end: a real registry, our daemon as containerd's proxy snapshotter and
/// containerd running the image's workload (busybox reading some files of /data); the pushed image
/// has exactly those files before `.prefetch.landmark`, in the order they were read; the record
/// (`--record-out`) names them per layer, and converting again from it (`--prefetch-list`) gives
/// the same image without running anything; nothing is left in containerd or the registry.
/// </summary>
public sealed class OptimizeTests
{
    private const string Landmark = ".prefetch.landmark";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_files_the_workload_reads_come_first_in_read_order_and_the_record_converts_again_to_the_same_image()
    {
        Requirements.Root();
        Requirements.Tool("runc", "runc");
        Requirements.Tool("ctr-remote", "stargz-snapshotter");
        using var directory = new TempDirectory("optimize");
        var data = new TarBuilder().Directory("data/");
        foreach (var name in new[] { "a", "b", "c", "d", "e", "f" })
        {
            data.File($"data/{name}", SampleLayers.Pattern(20_000, name[0]));
        }
        data.File("data/big", SampleLayers.Pattern(1024 * 1024, 'g'));
        var busybox = new TarBuilder().Directory("bin/")
            .File("bin/busybox", await File.ReadAllBytesAsync("/bin/busybox", Token), mode: 0x1ed)
            .Symlink("bin/sh", "busybox")
            .Symlink("bin/cat", "busybox")
            .Symlink("bin/dd", "busybox");
        var original = await TestImages.LayoutAsync(directory.Combine("original"), "v1",
            config => config.Json["config"] = new JsonObject { ["Cmd"] = new JsonArray("/bin/sh", "-c", "cat /data/e /data/a > /dev/null && cat /data/c > /dev/null && test -e /data/f && dd if=/data/big of=/dev/null bs=4096 skip=200 count=1 2>/dev/null") },
            busybox.Build(), data.Build());

        await using var registry = await DockerRegistryFixture.StartAsync();
        await using var daemon = await SnapshotterDaemonFixture.StartAsync();
        await using var containerd = await ContainerdFixture.StartAsync(new Dictionary<string, string> { ["stargz"] = daemon.Address });
        using var setup = RegistrySetup.For(registry);
        await RegistrySetup.PushAsync(original, registry, $"{registry.Host}/app:v1");

        var record = directory.Combine("record.jsonl");
        var run = await setup.EstargzAsync("optimize", "--json", "--plain-http", "--address", containerd.Address, "--snapshotter", "stargz", "--period", "60",
            "--record-out", record, $"{registry.Host}/app:v1", $"{registry.Host}/app:optimized");
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\n{run.StandardError}\n--- daemon ---\n{daemon.Log}\n--- containerd ---\n{containerd.Log}");
        using var summary = JsonDocument.Parse(run.StandardOutput);

        // The record: per layer, what was used, in first-use order; the unread files are not in it.
        var entries = (await File.ReadAllLinesAsync(record, Token)).Select(line => JsonNode.Parse(line)!).ToList();
        Assert.Equal(entries.Count, summary.RootElement.GetProperty("recordedEntries").GetInt32());
        var (sourceManifest, _) = await SampleImage.ReadAsync(original);
        var sourceDigest = (await (await OciImageLayout.OpenAsync(original, Token)).ReadIndexAsync(Token)).Manifests.Single().Digest.Value;
        Assert.All(entries, e => Assert.Equal(sourceDigest, e["manifestDigest"]!.GetValue<string>()));
        var dataPaths = entries.Where(e => e["layerIndex"]!.GetValue<int>() == 1).Select(e => e["path"]!.GetValue<string>()).ToList();
        Assert.Equal(["data/e", "data/a", "data/c", "data/f", "data/big"], dataPaths.Where(p => p.StartsWith("data/", StringComparison.Ordinal)));
        // With the ranges read: data/f was only looked up; of data/big, the page dd read (and what the kernel read ahead).
        var ranges = entries.Where(e => e["layerIndex"]!.GetValue<int>() == 1).ToDictionary(e => e["path"]!.GetValue<string>(), e => e["ranges"]!.AsArray());
        Assert.Empty(ranges["data/f"]);
        Assert.Equal(20_000, ranges["data/e"].Single()![1]!.GetValue<long>());
        var bigRead = ranges["data/big"].Single()!;
        Assert.InRange(bigRead[0]!.GetValue<long>(), 700_000, 819_200);
        Assert.InRange(bigRead[0]!.GetValue<long>() + bigRead[1]!.GetValue<long>(), 823_296, 1024 * 1024);
        Assert.Contains("bin/busybox", entries.Where(e => e["layerIndex"]!.GetValue<int>() == 0).Select(e => e["path"]!.GetValue<string>()));

        // The pushed image: those files before the landmark, in that order; the rest after it.
        var optimized = ImageReference.Parse($"{registry.Host}/app:optimized");
        var manifest = (await setup.ManifestsAsync(optimized, Token)).Single();
        Assert.Equal(sourceManifest.Layers.Count, manifest.Layers.Count);
        var order = await TocOrderAsync(setup, optimized, manifest.Layers[1]);
        var landmark = order.IndexOf(Landmark);
        Assert.True(landmark > 0, string.Join(", ", order));
        Assert.Equal(["data/e", "data/a", "data/c", "data/big"], order.Take(landmark).Where(p => p.StartsWith("data/", StringComparison.Ordinal)));
        Assert.All(new[] { "data/b", "data/d", "data/f" }, p => Assert.True(order.IndexOf(p) > landmark, p));
        // data/big is cut where the read began and ended; only the chunk read is marked for prefetch.
        var bigChunks = await ChunksAsync(setup, optimized, manifest.Layers[1], "data/big");
        Assert.Equal([false, true], bigChunks.Take(2).Select(c => c.Prefetch));
        Assert.Equal(bigRead[0]!.GetValue<long>(), bigChunks[1].FileOffset);
        Assert.All(bigChunks.Skip(2), c => Assert.False(c.Prefetch));
        Assert.Contains("bin/busybox", (await TocOrderAsync(setup, optimized, manifest.Layers[0])).TakeWhile(p => p != Landmark));
        // Each layer tells what its prefetch fetches, for a snapshotter to start it before the TOC arrives.
        foreach (var layer in manifest.Layers)
        {
            var reader = await OpenAsync(setup, optimized, layer);
            Assert.Equal(PrefetchHint.Format(PrefetchHint.FromToc(reader.Toc, reader.TocOffset)), layer.Annotation(PrefetchHint.Annotation));
        }

        // Reusing the record runs nothing and gives the same image.
        var reuse = (await setup.EstargzAsync("optimize", "--json", "--prefetch-list", record, $"{registry.Host}/app:v1", $"{registry.Host}/app:again")).EnsureSuccess();
        using var reused = JsonDocument.Parse(reuse.StandardOutput);
        Assert.Equal(summary.RootElement.GetProperty("conversion").GetProperty("digest").GetString(),
            reused.RootElement.GetProperty("conversion").GetProperty("digest").GetString());

        // Nothing left behind: the namespace, the temporary tag.
        Assert.DoesNotContain("estargz-optimize", await containerd.CtrAsync("namespaces", "ls"));
        using var raw = registry.CreateRawClient();
        Assert.DoesNotContain("estargz-optimize", await raw.GetStringAsync(new Uri("/v2/app/tags/list", UriKind.Relative), Token));
    }

    private static async Task<IReadOnlyList<EstargzChunk>> ChunksAsync(RegistrySetup setup, ImageReference image, Descriptor layer, string path)
    {
        var reader = await OpenAsync(setup, image, layer);
        return reader.GetChunks(reader.GetEntry(path));
    }

    /// <summary>The TOC entry names of a pushed layer, in blob order (chunks left out).</summary>
    private static async Task<List<string>> TocOrderAsync(RegistrySetup setup, ImageReference image, Descriptor layer) =>
        (await OpenAsync(setup, image, layer)).Toc.Entries.Where(e => e.Type != TocEntryTypes.Chunk).Select(e => e.Name.TrimEnd('/')).ToList();

    private static async Task<EstargzReader> OpenAsync(RegistrySetup setup, ImageReference image, Descriptor layer)
    {
        var blob = new MemoryBlobSource(await setup.Client.GetBlobAsync(image, layer, Token));
        return await EstargzReader.OpenAsync(blob, Digest.Parse(layer.Annotation("containerd.io/snapshot/stargz/toc.digest")!), cancellationToken: Token);
    }
}
