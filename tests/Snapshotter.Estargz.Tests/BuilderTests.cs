using System.Text;
using Snapshotter.Oci;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Estargz.Tests;

public sealed class BuilderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_file_and_its_metadata_round_trip(bool gzipInput)
    {
        var tar = Build.Sample;
        var (_, _, reader) = await Build.AndOpenAsync(gzipInput ? tar.BuildGzip() : tar.Build(), Build.SmallChunks);

        var lastUserName = new Dictionary<int, string>();
        var lastGroupName = new Dictionary<int, string>();
        foreach (var spec in tar.Entries)
        {
            var entry = reader.GetEntry(spec.Name);
            // The TOC omits repeated owner names; the reader fills them in from the last entry with the same id.
            lastUserName[spec.Uid] = spec.UserName.Length > 0 ? spec.UserName : lastUserName.GetValueOrDefault(spec.Uid, "");
            lastGroupName[spec.Gid] = spec.GroupName.Length > 0 ? spec.GroupName : lastGroupName.GetValueOrDefault(spec.Gid, "");
            Assert.Equal(spec.Name, entry.Name);
            Assert.Equal(ExpectedType(spec.Kind), entry.Type);
            Assert.Equal(spec.Mode, entry.Mode);
            Assert.Equal((spec.Uid, spec.Gid), ((int)entry.Uid, (int)entry.Gid));
            Assert.Equal(NullIfEmpty(lastUserName[spec.Uid]), entry.UserName);
            Assert.Equal(NullIfEmpty(lastGroupName[spec.Gid]), entry.GroupName);
            Assert.Equal(spec.ModTime, entry.ModificationTime);
            Assert.Equal(spec.LinkName, entry.LinkName);
            Assert.Equal((spec.DevMajor, spec.DevMinor), (entry.DevMajor, entry.DevMinor));
            Assert.Equal(
                spec.Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => (x.Key, x.Value)),
                (entry.Xattrs ?? new Dictionary<string, byte[]>()).Select(x => (x.Key, Encoding.UTF8.GetString(x.Value))));
            if (spec.Kind == TarEntryKind.Regular)
            {
                Assert.Equal(spec.Content.Length, entry.Size);
                Assert.Equal(spec.Content, await reader.ReadAllBytesAsync(spec.Name, Ct));
                Assert.Equal(Digest.Compute(spec.Content).Value, entry.Digest);
            }
        }
        Assert.Equal(Build.Sample.Entries.Single(e => e.Name == "usr/lib/big.bin").Content, await reader.ReadAllBytesAsync("usr/lib/hard-to-big", Ct));
    }

    [Fact]
    public async Task The_tar_inside_equals_the_input_tar_entry_for_entry()
    {
        var layer = Build.Sample.Build();
        var (blob, _) = await Build.EstargzAsync(layer, Build.SmallChunks);

        Assert.Equal(TarSnapshot.Read(layer), TarSnapshot.Read(blob, skipEstargzEntries: true));
        var names = TarSnapshot.Read(blob).Select(e => e.Name).ToList();
        Assert.Equal(EstargzConstants.NoPrefetchLandmark, names[0]);
        Assert.Equal(EstargzConstants.TocFileName, names[^1]);
    }

    [Fact]
    public async Task Result_describes_the_blob()
    {
        var (blob, result, reader) = await Build.AndOpenAsync(Build.Sample.Build(), Build.SmallChunks);
        var tar = Build.Gunzip(blob);

        Assert.Equal(Digest.Compute(blob), result.BlobDigest);
        Assert.Equal(blob.Length, result.CompressedSize);
        Assert.Equal(Digest.Compute(tar), result.DiffId);
        Assert.Equal(tar.Length, result.UncompressedSize);
        Assert.Equal(reader.TocDigest, result.TocDigest);
        Assert.Equal(0, tar.Length % 512);
        Assert.True(tar.AsSpan(tar.Length - 1024).IndexOfAnyExcept((byte)0) < 0, "the tar stream ends with two zero blocks");
    }

    [Fact]
    public async Task Large_files_are_split_into_chunks_each_in_its_own_member()
    {
        var (blob, _, reader) = await Build.AndOpenAsync(Build.Sample.Build(), Build.SmallChunks);
        var chunks = reader.GetChunks(reader.GetEntry("usr/lib/big.bin"));

        Assert.Equal(5, chunks.Count); // 300,000 bytes in 65,536-byte chunks
        Assert.All(chunks.SkipLast(1), c => Assert.Equal(65_536, c.Size));
        Assert.All(chunks, c => Assert.Equal(0, c.InnerOffset));
        Assert.All(chunks, c => Assert.Equal(new byte[] { 0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff }, blob.AsSpan((int)c.CompressedOffset, 10).ToArray()));
        var tocEntries = reader.Toc.Entries.Where(e => e.Name == "usr/lib/big.bin").ToList();
        Assert.Equal([TocEntryTypes.Regular, .. Enumerable.Repeat(TocEntryTypes.Chunk, 4)], tocEntries.Select(e => e.Type));
        Assert.Equal(0, tocEntries[^1].ChunkSize); // the short last chunk says "to the end", as Go writes it
    }

    [Fact]
    public async Task Min_chunk_size_packs_small_files_into_shared_members()
    {
        var tar = new TarBuilder();
        for (var i = 0; i < 50; i++)
        {
            tar.File($"small/{i:D2}.txt", SampleLayers.Pattern(1000 + i, i));
        }
        tar.File("large.bin", SampleLayers.Pattern(200_000, 99));
        var (_, _, reader) = await Build.AndOpenAsync(tar.Build(), new EstargzBuildOptions { ChunkSize = 64 * 1024, MinChunkSize = 8 * 1024 });

        var smallChunks = tar.Entries.Where(e => e.Name.StartsWith("small/", StringComparison.Ordinal))
            .Select(e => reader.GetChunks(reader.GetEntry(e.Name)).Single()).ToList();
        Assert.InRange(smallChunks.Select(c => c.CompressedOffset).Distinct().Count(), 5, 10);
        Assert.Contains(smallChunks, c => c.InnerOffset > 0);
        foreach (var spec in tar.Entries)
        {
            Assert.Equal(spec.Content, await reader.ReadAllBytesAsync(spec.Name, Ct));
        }
        Assert.All(reader.GetChunks(reader.GetEntry("large.bin")), c => Assert.Equal(0, c.InnerOffset));
    }

    [Fact]
    public async Task Prioritized_files_come_first_then_the_landmark()
    {
        var options = Build.SmallChunks with { PrioritizedFiles = ["./usr/lib/hard-to-big", "etc/hostname", "/bin/sh"] };
        var (blob, _, reader) = await Build.AndOpenAsync(Build.Sample.Build(), options);

        var names = reader.Toc.Entries.Where(e => e.Type != TocEntryTypes.Chunk).Select(e => e.Name).ToList();
        Assert.Equal(["./", "usr/", "usr/lib/", "usr/lib/big.bin", "usr/lib/hard-to-big", "etc/", "etc/hostname", "bin/", "bin/sh", EstargzConstants.PrefetchLandmark], names[..10]);
        Assert.DoesNotContain(EstargzConstants.NoPrefetchLandmark, names);
        Assert.Equal(1, names.Count(n => n == "usr/lib/big.bin"));
        Assert.Equal(reader.GetChunks(reader.GetEntry(EstargzConstants.PrefetchLandmark)).Single().CompressedOffset, reader.PrefetchLandmarkOffset);
        Assert.Equal(new byte[] { 0x0f }, await reader.ReadAllBytesAsync(EstargzConstants.PrefetchLandmark, Ct));
        // The reordered tar still extracts the same entries.
        Assert.Equal(TarSnapshot.Read(Build.Sample.Build()).OrderBy(e => e.Name, StringComparer.Ordinal), TarSnapshot.Read(blob, skipEstargzEntries: true).OrderBy(e => e.Name, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Without_prioritized_files_the_no_prefetch_landmark_comes_first()
    {
        var (_, _, reader) = await Build.AndOpenAsync(Build.Sample.Build());
        Assert.Equal(EstargzConstants.NoPrefetchLandmark, reader.Toc.Entries[0].Name);
        Assert.True(reader.HasNoPrefetchLandmark);
        Assert.Null(reader.PrefetchLandmarkOffset);
        Assert.Equal(new byte[] { 0x0f }, await reader.ReadAllBytesAsync(EstargzConstants.NoPrefetchLandmark, Ct));
    }

    [Fact]
    public async Task A_missing_prioritized_file_fails_unless_allowed()
    {
        var layer = Build.Sample.Build();
        await Assert.ThrowsAsync<FileNotFoundException>(() => Build.EstargzAsync(layer, new EstargzBuildOptions { PrioritizedFiles = ["etc/hostname", "no/such/file"] }));

        var (_, _, reader) = await Build.AndOpenAsync(layer, new EstargzBuildOptions { PrioritizedFiles = ["no/such/file", "etc/hostname"], AllowPrioritizedNotFound = true });
        Assert.Equal(["./", "etc/", "etc/hostname", EstargzConstants.PrefetchLandmark], reader.Toc.Entries.Take(4).Select(e => e.Name));
    }

    [Fact]
    public async Task Output_is_deterministic_whatever_the_parallelism()
    {
        var layer = Build.Sample.Build();
        var (first, firstResult) = await Build.EstargzAsync(layer, Build.SmallChunks with { Parallelism = 1 });
        var (second, _) = await Build.EstargzAsync(layer, Build.SmallChunks with { Parallelism = 4 });
        var (third, _) = await Build.EstargzAsync(Build.Sample.BuildGzip(), Build.SmallChunks with { Parallelism = 2 });

        Assert.Equal(first, second);
        Assert.Equal(first, third);
        Assert.Equal(Digest.Compute(first), firstResult.BlobDigest);
    }

    [Fact]
    public async Task Converting_an_estargz_again_keeps_one_toc_and_one_landmark()
    {
        var (once, _) = await Build.EstargzAsync(Build.Sample.Build(), Build.SmallChunks);
        var (twice, _, reader) = await Build.AndOpenAsync(once, Build.SmallChunks);

        Assert.Equal(TarSnapshot.Read(once), TarSnapshot.Read(twice));
        Assert.Single(reader.Toc.Entries, e => e.Name == EstargzConstants.NoPrefetchLandmark);
    }

    [Fact]
    public async Task Owner_names_are_written_once_per_id_like_go()
    {
        var tar = new TarBuilder()
            .Add(new TarEntrySpec { Name = "a", Kind = TarEntryKind.Regular, Uid = 7, UserName = "seven", GroupName = "g" })
            .Add(new TarEntrySpec { Name = "b", Kind = TarEntryKind.Regular, Uid = 7, UserName = "seven", GroupName = "g" });
        var (_, result, reader) = await Build.AndOpenAsync(tar.Build());

        var written = result.Toc.Entries.Where(e => e.Name is "a" or "b").ToList();
        Assert.Equal(["seven", null], written.Select(e => e.UserName));
        Assert.Equal("seven", reader.GetEntry("b").UserName); // the reader fills it back in
    }

    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(9)]
    public async Task Every_compression_level_reads_back(int level)
    {
        var (_, _, reader) = await Build.AndOpenAsync(Build.Sample.Build(), Build.SmallChunks with { CompressionLevel = level });
        Assert.Equal(Build.Sample.Entries.Single(e => e.Name == "usr/lib/big.bin").Content, await reader.ReadAllBytesAsync("usr/lib/big.bin", Ct));
    }

    [Fact]
    public async Task Input_that_is_not_a_tar_is_rejected()
    {
        await Assert.ThrowsAsync<EstargzFormatException>(() => Build.EstargzAsync(HandmadeEstargz.RandomBytes(4096, 5)));
        var truncated = Build.Sample.Build()[..2000];
        await Assert.ThrowsAsync<EstargzFormatException>(() => Build.EstargzAsync(truncated));
        var gzipGarbage = (byte[])Build.Sample.BuildGzip().Clone();
        gzipGarbage.AsSpan(20, 200).Fill(0x55);
        await Assert.ThrowsAsync<EstargzFormatException>(() => Build.EstargzAsync(gzipGarbage));
    }

    [Fact]
    public async Task An_empty_tar_gives_a_valid_layer_with_only_the_landmark()
    {
        var (_, _, reader) = await Build.AndOpenAsync(new TarBuilder().Build());
        Assert.Equal([EstargzConstants.NoPrefetchLandmark], reader.Toc.Entries.Select(e => e.Name));
    }

    [Fact]
    public async Task Unseekable_input_is_spooled()
    {
        var layer = Build.Sample.BuildGzip();
        using var output = new MemoryStream();
        var result = await EstargzBuilder.BuildAsync(new UnseekableStream(layer), output, Build.SmallChunks, Ct);
        var (expected, _) = await Build.EstargzAsync(layer, Build.SmallChunks);
        Assert.Equal(expected, output.ToArray());
        Assert.Equal(Digest.Compute(expected), result.BlobDigest);
    }

    private static string ExpectedType(TarEntryKind kind) => kind switch
    {
        TarEntryKind.Regular => TocEntryTypes.Regular,
        TarEntryKind.Directory => TocEntryTypes.Directory,
        TarEntryKind.Symlink => TocEntryTypes.Symlink,
        TarEntryKind.Hardlink => TocEntryTypes.Hardlink,
        TarEntryKind.CharDevice => TocEntryTypes.CharDevice,
        TarEntryKind.BlockDevice => TocEntryTypes.BlockDevice,
        _ => TocEntryTypes.Fifo,
    };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private sealed class UnseekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 1000));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
