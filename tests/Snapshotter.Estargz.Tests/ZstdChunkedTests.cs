using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Snapshotter.Oci;
using Snapshotter.Testing.Tar;
using ZstdSharp;

namespace Snapshotter.Estargz.Tests;

/// <summary>zstd:chunked: the framing stargz's zstdchunked package writes, built and read back.</summary>
public sealed class ZstdChunkedTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EstargzBuildOptions Zstd => Build.SmallChunks with { Format = EstargzFormat.ZstdChunked, CompressionLevel = 3 };

    [Fact]
    public void Footer_is_a_skippable_frame_of_the_40_bytes_stargz_writes()
    {
        Assert.Equal(48, ZstdChunkedFooter.Size);
        var footer = new byte[ZstdChunkedFooter.Size];
        ZstdChunkedFooter.Write(footer, tocDataOffset: 0x1234, compressedTocSize: 511, uncompressedTocSize: 1897);

        byte[] expected =
        [
            0x50, 0x2a, 0x4d, 0x18, 0x28, 0, 0, 0, // skippable frame magic, content size 40
            0x34, 0x12, 0, 0, 0, 0, 0, 0, // offset of the compressed TOC
            0xff, 0x01, 0, 0, 0, 0, 0, 0, // its compressed size
            0x69, 0x07, 0, 0, 0, 0, 0, 0, // the JSON's size
            1, 0, 0, 0, 0, 0, 0, 0, // manifest type CRFS
            .. "GnUlInUx"u8,
        ];
        Assert.Equal(expected, footer);
        Assert.True(ZstdChunkedFooter.TryParse(footer, out var frameOffset, out var compressed));
        Assert.Equal(0x1234 - 8, frameOffset);
        Assert.Equal(511, compressed);
    }

    [Theory]
    [InlineData(0, 0x51)] // not a skippable frame
    [InlineData(4, 0x29)] // frame size other than 40
    [InlineData(40, (byte)'X')] // magic
    [InlineData(32, 2)] // manifest type
    public void Footers_with_a_wrong_byte_are_refused(int index, byte value)
    {
        var footer = new byte[ZstdChunkedFooter.Size];
        ZstdChunkedFooter.Write(footer, 100, 10, 20);
        footer[index] = value;
        Assert.False(ZstdChunkedFooter.TryParse(footer, out _, out _));
    }

    [Fact]
    public async Task A_built_layer_reads_back_every_file_and_decompresses_to_its_tar_without_toc_or_end_blocks()
    {
        var layer = Build.Sample.Build();
        var (blob, result, reader) = await Build.AndOpenAsync(layer, Zstd);

        Assert.Equal(EstargzFormat.ZstdChunked, reader.Format);
        Assert.Equal(EstargzFormat.ZstdChunked, result.Format);
        Assert.Equal([0x28, 0xb5, 0x2f, 0xfd], blob[..4]); // a zstd frame first

        // Every frame in sequence gives the tar stream the DiffID and the uncompressed size describe:
        // the input's entries and the landmark, no TOC, no end-of-archive blocks (stargz writes none).
        var tar = Unzstd(blob);
        Assert.Equal(result.UncompressedSize, tar.Length);
        Assert.Equal(result.DiffId, Digest.Compute(tar));
        Assert.NotEqual(new byte[1024], tar[^1024..]);
        var entries = TarSnapshot.Read(tar);
        Assert.Equal(EstargzConstants.NoPrefetchLandmark, entries[0].Name);
        Assert.Equal(TarSnapshot.Read(layer), TarSnapshot.Read(tar, skipEstargzEntries: true));
        foreach (var file in entries.Where(e => e.Type is System.Formats.Tar.TarEntryType.RegularFile && e.Size > 0))
        {
            var content = await reader.ReadAllBytesAsync(file.Name, Ct);
            Assert.Equal(file.ContentSha256, Convert.ToHexStringLower(SHA256.HashData(content)));
        }
    }

    [Fact]
    public async Task The_annotations_describe_the_compressed_toc_where_it_is()
    {
        var (blob, result) = await Build.EstargzAsync(Build.Sample.Build(), Zstd);
        var toc = result.ZstdChunkedToc!;

        var compressed = blob.AsSpan((int)toc.Offset, (int)toc.CompressedLength);
        Assert.Equal(toc.Checksum, Digest.FromSha256Hash(SHA256.HashData(compressed)));
        Assert.Equal(result.TocDigest, Digest.Compute(Unzstd(compressed.ToArray())));
        Assert.Equal(toc.Offset + toc.CompressedLength + ZstdChunkedFooter.Size, blob.Length);
        Assert.Equal($"{toc.Offset}:{toc.CompressedLength}:{toc.UncompressedLength}:1", toc.Position);
        Assert.Equal(toc.UncompressedLength, BinaryPrimitives.ReadInt64LittleEndian(blob.AsSpan(blob.Length - 24)));
    }

    [Fact]
    public async Task The_verifier_takes_a_zstd_layer_and_reports_a_corrupt_frame()
    {
        var (blob, result) = await Build.EstargzAsync(Build.Sample.Build(), Zstd with { MinChunkSize = 8192 });
        var report = await EstargzVerifier.VerifyAsync(new MemoryBlobSource(blob), result.TocDigest, cancellationToken: Ct);
        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        Assert.Equal(EstargzFormat.ZstdChunked, report.Format);
        Assert.Equal(result.Toc.Entries.Count(e => e.Type != TocEntryTypes.Chunk), report.TarEntryCount);

        var big = result.Toc.Entries.First(e => e.Name == "usr/lib/big.bin" && e.Type == TocEntryTypes.Regular);
        blob[big.Offset + 40] ^= 0xff;
        var broken = await EstargzVerifier.VerifyAsync(new MemoryBlobSource(blob), result.TocDigest, cancellationToken: Ct);
        Assert.False(broken.IsValid);
        Assert.Contains(broken.Problems, p => p.Contains("usr/lib/big.bin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_corrupt_chunk_frame_fails_its_read()
    {
        var (blob, _, reader) = await Build.AndOpenAsync(Build.Sample.Build(), Zstd);
        var chunk = reader.GetChunks(reader.GetEntry("usr/lib/big.bin"))[1];
        blob[chunk.CompressedOffset + chunk.CompressedLength - 3] ^= 0x55;

        var error = await Record.ExceptionAsync(() => reader.ReadChunkAsync(chunk, new byte[chunk.Size], Ct).AsTask());
        Assert.True(error is EstargzFormatException or DigestMismatchException, error?.ToString());
    }

    [Fact]
    public async Task A_toc_frame_that_does_not_end_at_the_footer_is_refused()
    {
        var (blob, result) = await Build.EstargzAsync(Build.Sample.Build(), Zstd);
        var frameSizeAt = (int)result.ZstdChunkedToc!.Offset - 4;
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(frameSizeAt), (uint)result.ZstdChunkedToc.CompressedLength - 1);

        var error = await Assert.ThrowsAsync<EstargzFormatException>(() => EstargzReader.OpenAsync(new MemoryBlobSource(blob), result.TocDigest, cancellationToken: Ct));
        Assert.Contains("skippable frame", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_toc_that_is_not_zstd_or_too_large_is_refused()
    {
        var (blob, result) = await Build.EstargzAsync(Build.Sample.Build(), Zstd);
        var garbled = blob.ToArray();
        garbled.AsSpan((int)result.ZstdChunkedToc!.Offset, 8).Fill(0x42);
        await Assert.ThrowsAsync<EstargzFormatException>(() => EstargzReader.OpenAsync(new MemoryBlobSource(garbled), null, cancellationToken: Ct));

        var small = new EstargzReaderOptions { MaxTocSize = 1024 };
        var error = await Assert.ThrowsAsync<EstargzFormatException>(() => EstargzReader.OpenAsync(new MemoryBlobSource(blob), null, small, Ct));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prefetched_chunks_share_members_up_to_the_group_size_and_nothing_else_joins_them()
    {
        var library = SampleLayers.Pattern(600_000, 1);
        var layer = new TarBuilder().Directory("usr/")
            .File("usr/a.pyc", SampleLayers.Pattern(20_000, 2))
            .File("usr/lib.so", library)
            .File("usr/b.pyc", SampleLayers.Pattern(30_000, 3))
            .File("usr/unlisted", SampleLayers.Pattern(5_000, 4))
            .Build();
        var options = Zstd with
        {
            PrioritizedFiles = ["usr/a.pyc", "usr/lib.so", "usr/b.pyc"],
            PrioritizedReads = new Dictionary<string, IReadOnlyList<FileRange>>
            {
                ["usr/a.pyc"] = [new FileRange(0, 20_000)],
                ["usr/lib.so"] = [new FileRange(0, 8192), new FileRange(590_000, 10_000)],
                ["usr/b.pyc"] = [new FileRange(0, 30_000)],
            },
            PrefetchGroupSize = 256 * 1024,
        };
        var (_, result, reader) = await Build.AndOpenAsync(layer, options);

        var a = reader.GetChunks(reader.GetEntry("usr/a.pyc")).Single();
        var lib = reader.GetChunks(reader.GetEntry("usr/lib.so"));
        var b = reader.GetChunks(reader.GetEntry("usr/b.pyc")).Single();
        var landmark = reader.PrefetchLandmarkOffset!.Value;
        var read = lib.Where(c => c.Prefetch).ToList();
        Assert.Equal(2, read.Count);
        // a.pyc and the first read pages of lib.so share a member; unread chunks have members of their own.
        Assert.Equal(a.CompressedOffset, read[0].CompressedOffset);
        Assert.All(lib.Where(c => !c.Prefetch), c => Assert.Single(lib, other => other.CompressedOffset == c.CompressedOffset));
        // The read end of lib.so and b.pyc share one; the landmark starts its own, after all of them.
        Assert.Equal(read[1].CompressedOffset, b.CompressedOffset);
        Assert.True(b.CompressedOffset < landmark);
        Assert.Equal(landmark, reader.TryGetEntry(EstargzConstants.PrefetchLandmark, out var mark) ? mark.Offset : -1);
        Assert.Equal(library, await reader.ReadAllBytesAsync("usr/lib.so", Ct));
        Assert.Equal(layer.Length > 0, result.PrefetchSpans.Count > 0);
    }

    [Fact]
    public async Task Grouped_zstd_members_are_smaller_than_one_member_per_file()
    {
        var builder = new TarBuilder().Directory("lib/");
        var names = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var name = $"lib/module{i}.py";
            builder.File(name, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 200).Select(j => $"def function_{j}(argument): return argument * {i + j}\n"))));
            names.Add(name);
        }
        var layer = builder.Build();
        var single = await Build.EstargzAsync(layer, Zstd with { PrioritizedFiles = names });
        var grouped = await Build.EstargzAsync(layer, Zstd with { PrioritizedFiles = names, PrefetchGroupSize = 1024 * 1024 });

        Assert.True(grouped.Result.CompressedSize * 3 < single.Result.CompressedSize * 2, $"{grouped.Result.CompressedSize} vs {single.Result.CompressedSize}");
    }

    private static byte[] Unzstd(byte[] compressed)
    {
        using var input = new DecompressionStream(new MemoryStream(compressed));
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }
}
