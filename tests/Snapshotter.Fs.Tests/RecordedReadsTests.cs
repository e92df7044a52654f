using System.Text.Json;
using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>
/// Both ends of chunk-level prefetch: <c>.stargz-snapshotter/reads.json</c> records the byte ranges
/// that reach the layer as reads, and prefetch fetches only the chunks the TOC marks as read.
/// </summary>
public sealed class RecordedReadsTests
{
    private const int Chunk = 256 * 1024;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Prefetch_takes_only_the_marked_chunks_of_a_file_and_whole_files_without_marks()
    {
        using var temp = new TempDirectory("fs-recorded-prefetch");
        var library = SampleLayers.Pattern(1024 * 1024, 7);
        var tar = new TarBuilder().File("lib.so", library).File("conf", "c\n").File("cold", "never read\n").Build();
        var reads = new Dictionary<string, IReadOnlyList<FileRange>> { ["lib.so"] = [new FileRange(300_000, 10_000)], ["conf"] = [new FileRange(0, 2)] };
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = Chunk, CompressionLevel = 1, PrioritizedFiles = ["lib.so", "conf"], PrioritizedReads = reads });
        using var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, new FetchOptions { ReadAheadBytes = 0 });
        var end = LayerContent.PrefetchEnd(fixture.Reader, fixture.Tree.Members, PrefetchOptions.Default);

        var runs = LayerContent.PrefetchRuns(fixture.Tree.Members, end);
        await fixture.Chunks.FetchMembersAsync(runs, FetchKind.Prefetch, 2, 1 << 20, null, Token);

        var lib = fixture.Tree.Root.FindChild("lib.so"u8)!;
        Assert.Equal([false, false, true, false, false, false], lib.Chunks.Select(c => c.Prefetch));
        Assert.Equal([false, false, true, false, false, false], lib.Chunks.Select(c => fixture.Store.Contains(c.Digest)));
        Assert.True(fixture.Store.Contains(fixture.Tree.Root.FindChild("conf"u8)!.Chunks.Single().Digest));
        Assert.False(fixture.Store.Contains(fixture.Tree.Root.FindChild("cold"u8)!.Chunks.Single().Digest));
        Assert.Equal(2, runs.Count); // lib.so's marked chunk, then conf: the unmarked chunks between are too large to fetch along
    }

    [Fact]
    public async Task Without_marks_prefetch_is_the_whole_region_before_the_landmark()
    {
        using var temp = new TempDirectory("fs-recorded-prefetch");
        var tar = new TarBuilder().File("lib.so", SampleLayers.Pattern(1024 * 1024, 7)).File("conf", "c\n").File("cold", "x\n").Build();
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"),
            new EstargzBuildOptions { ChunkSize = Chunk, PrioritizedFiles = ["lib.so", "conf"] });
        using var fixture = await ReaderFixture.OpenAsync(layer, 16 << 20, FetchOptions.Default);
        var end = LayerContent.PrefetchEnd(fixture.Reader, fixture.Tree.Members, PrefetchOptions.Default);

        Assert.Equal(5, end); // four chunks of lib.so and conf
        Assert.Equal([new MemberRun(0, end)], LayerContent.PrefetchRuns(fixture.Tree.Members, end));
    }

    [Fact]
    public void Recorded_ranges_are_kept_sorted_and_merged()
    {
        var recorder = new ReadRecorder();
        var node = new Node { Path = "f" };
        recorder.Record(node, 8192, 4096);
        recorder.Record(node, 12288, 4096);
        recorder.Record(node, 0, 4096);
        recorder.Record(node, 40960, 4096);
        recorder.Record(node, 2048, 7000);
        recorder.Record(node, 20000, 0);

        Assert.Equal([(0L, 16384L), (40960, 45056)], recorder.RangesOf(node));
        Assert.Equal("{\"path\":\"f\",\"ranges\":[[0,16384],[40960,4096]]}\n", System.Text.Encoding.UTF8.GetString(recorder.Render()));
    }

    [Fact]
    public async Task Reads_json_lists_the_ranges_each_file_was_read_in_and_each_open_sees_its_moment()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-reads-json");
        var big = SampleLayers.Pattern(2 * 1024 * 1024, 5);
        var layer = await TestLayers.BuildAsync(new TarBuilder().Directory("d/").File("d/big", big).File("d/small", "small\n").File("d/unread", "u\n").Build(),
            temp.Combine("layer.esgz"), new EstargzBuildOptions { ChunkSize = Chunk });
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"));
        var readsJson = Path.Combine(mounted.Path, ".stargz-snapshotter", "reads.json");
        Assert.Equal("", await File.ReadAllTextAsync(readsJson, Token));

        await File.ReadAllTextAsync(Path.Combine(mounted.Path, "d", "small"), Token);
        Assert.True(File.Exists(Path.Combine(mounted.Path, "d", "unread")));
        using var before = new FileStream(readsJson, FileMode.Open, FileAccess.Read);
        using (var file = new FileStream(Path.Combine(mounted.Path, "d", "big"), FileMode.Open, FileAccess.Read))
        {
            file.Position = 1_500_000;
            var buffer = new byte[4096];
            file.ReadExactly(buffer);
            Assert.True(big.AsSpan(1_500_000, 4096).SequenceEqual(buffer));
        }

        var lines = (await File.ReadAllLinesAsync(readsJson, Token)).Select(Parse).ToList();
        Assert.Equal(["d/small", "d/big"], lines.Select(l => l.Path));
        Assert.Equal([(0L, 6L)], lines[0].Ranges);
        // The kernel reads ahead from where it was asked, never before it.
        var (start, length) = Assert.Single(lines[1].Ranges);
        Assert.InRange(start, 1_400_000, 1_500_000);
        Assert.InRange(start + length, 1_504_096, big.Length);
        // The handle opened before the big read still reads the content of its moment.
        Assert.Equal(["d/small"], new StreamReader(before).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => Parse(l).Path));
    }

    private static (string Path, List<(long, long)> Ranges) Parse(string line)
    {
        using var json = JsonDocument.Parse(line);
        var ranges = json.RootElement.GetProperty("ranges").EnumerateArray().Select(r => (r[0].GetInt64(), r[1].GetInt64())).ToList();
        return (json.RootElement.GetProperty("path").GetString()!, ranges);
    }
}
