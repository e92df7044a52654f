using System.Text;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Estargz.Tests;

/// <summary><see cref="EstargzBuildOptions.PrioritizedReads"/>: chunks cut at the edges of what the workload read, and marked.</summary>
public sealed class RecordedReadsTests
{
    private const int Chunk = 256 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly byte[] Library = SampleLayers.Pattern(1024 * 1024, 1);

    private static TarBuilder Layer() => new TarBuilder()
        .Directory("usr/")
        .File("usr/lib.so", Library)
        .File("usr/source.py", SampleLayers.Pattern(100_000, 2))
        .File("usr/other", SampleLayers.Pattern(10_000, 3));

    [Fact]
    public async Task A_read_file_is_cut_at_the_edges_of_its_pages_read_and_those_chunks_are_marked()
    {
        var options = new EstargzBuildOptions
        {
            ChunkSize = Chunk,
            PrioritizedFiles = ["usr/lib.so"],
            PrioritizedReads = Reads(("/usr/lib.so", [new FileRange(300_000, 10_000)])),
        };
        var (_, _, reader) = await Build.AndOpenAsync(Layer().Build(), options);

        var chunks = reader.GetChunks(reader.GetEntry("usr/lib.so")).Select(c => (c.FileOffset, c.Size, c.Prefetch)).ToList();
        // [299008, 311296) holds the read bytes, widened to pages; the rest is cut at the chunk size from there.
        Assert.Equal(
            [(0L, 262144L, false), (262144, 36864, false), (299008, 12288, true), (311296, 262144, false), (573440, 262144, false), (835584, 212992, false)],
            chunks);
        Assert.Equal(Library, await reader.ReadAllBytesAsync("usr/lib.so", Ct));
        // As Go writes them: every chunk's size, but 0 ("to the end") on a last chunk shorter than the chunk size.
        var entries = reader.Toc.Entries.Where(e => e.Name == "usr/lib.so").ToList();
        Assert.Equal([262144L, 36864, 12288, 262144, 262144, 0], entries.Select(e => e.ChunkSize));
        Assert.Equal([false, false, true, false, false, false], entries.Select(e => e.Prefetch));
    }

    [Fact]
    public async Task Only_marked_entries_carry_the_key_in_the_toc_json()
    {
        var options = new EstargzBuildOptions
        {
            ChunkSize = Chunk,
            PrioritizedFiles = ["usr/lib.so"],
            PrioritizedReads = Reads(("usr/lib.so", [new FileRange(0, 4096)])),
        };
        var (blob, _) = await Build.EstargzAsync(Layer().Build(), options);
        var tar = Encoding.Latin1.GetString(Build.Gunzip(blob)); // the TOC JSON is the tar's last entry

        Assert.Equal(1, tar.Split("\"prefetch\"").Length - 1);
        Assert.Contains("\"prefetch\": true", tar);
    }

    [Fact]
    public async Task A_prioritized_file_that_was_only_looked_up_stays_after_the_landmark()
    {
        var options = new EstargzBuildOptions
        {
            ChunkSize = Chunk,
            PrioritizedFiles = ["usr/source.py", "usr/lib.so", "usr/other"],
            PrioritizedReads = Reads(("usr/lib.so", [new FileRange(0, Library.Length)]), ("usr/source.py", [])),
        };
        var (_, _, reader) = await Build.AndOpenAsync(Layer().Build(), options);

        var names = reader.Toc.Entries.Where(e => e.Type != TocEntryTypes.Chunk).Select(e => e.Name).ToList();
        Assert.Equal(["usr/", "usr/lib.so", EstargzConstants.PrefetchLandmark], names[..3]);
        // Read whole, the file has its usual chunks, all marked.
        Assert.All(reader.GetChunks(reader.GetEntry("usr/lib.so")), c => Assert.True(c.Prefetch));
        Assert.Equal(4, reader.GetChunks(reader.GetEntry("usr/lib.so")).Count);
    }

    [Fact]
    public async Task Without_recorded_reads_prioritized_files_keep_whole_and_unmarked()
    {
        var options = new EstargzBuildOptions { ChunkSize = Chunk, PrioritizedFiles = ["usr/source.py", "usr/lib.so"] };
        var (_, _, reader) = await Build.AndOpenAsync(Layer().Build(), options);

        var names = reader.Toc.Entries.Where(e => e.Type != TocEntryTypes.Chunk).Select(e => e.Name).ToList();
        Assert.Equal(["usr/", "usr/source.py", "usr/lib.so", EstargzConstants.PrefetchLandmark], names[..4]);
        Assert.All(reader.Toc.Entries, e => Assert.False(e.Prefetch));
    }

    [Theory]
    // Gaps under 64 KiB are read too, at the start, between ranges and at the end.
    [InlineData(1_000_000, "0+4096,20000+4096", "24576r,975424u")]
    [InlineData(1_000_000, "200000+100,250000+100", "196608u,57344r,746048u")]
    [InlineData(1_000_000, "200000+100,400000+100", "196608u,4096r,196608u,4096r,598592u")]
    [InlineData(1_000_000, "990000+100", "987136u,12864r")]
    // Out of the file, empty, overlapping.
    [InlineData(100_000, "200000+100,5000+0", "100000u")]
    [InlineData(1_000_000, "500000+8192,501000+100000", "499712u,102400r,397888u")]
    public void Runs_alternate_unread_and_read(long size, string ranges, string expected)
    {
        var parsed = ranges.Split(',').Select(r => r.Split('+')).Select(p => new FileRange(long.Parse(p[0]), long.Parse(p[1]))).ToList();
        var runs = ReadPlan.Runs(parsed, size);

        Assert.Equal(expected, string.Join(',', runs.Select(r => $"{r.Length}{(r.Read ? 'r' : 'u')}")));
        Assert.Equal(size, runs.Sum(r => r.Length));
    }

    private static Dictionary<string, IReadOnlyList<FileRange>> Reads(params (string Path, FileRange[] Ranges)[] files) =>
        files.ToDictionary(f => f.Path, f => (IReadOnlyList<FileRange>)f.Ranges);
}
