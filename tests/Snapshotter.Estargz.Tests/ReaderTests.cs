using Snapshotter.Oci;

namespace Snapshotter.Estargz.Tests;

public sealed class ReaderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly (string, byte[])[] Files =
    [
        ("./etc/hostname", "box\n"u8.ToArray()),
        ("etc/empty", []),
        ("usr/lib/big.bin", HandmadeEstargz.RandomBytes(100_000, 1)),
        ("usr/lib/exact.bin", HandmadeEstargz.RandomBytes(8192, 2)),
    ];

    [Fact]
    public async Task Opens_with_one_read_and_reads_every_file()
    {
        var blob = HandmadeEstargz.Build(Files, chunkSize: 4096);
        var source = new CountingBlobSource(blob.Bytes);

        var reader = await EstargzReader.OpenAsync(source, blob.TocDigest, cancellationToken: Ct);

        Assert.Single(source.Reads);
        Assert.Equal(blob.TocDigest, reader.TocDigest);
        Assert.Equal(blob.TocOffset, reader.TocOffset);
        Assert.Equal(EstargzFormat.Estargz, reader.Format);
        foreach (var (name, content) in Files)
        {
            Assert.Equal(content, await reader.ReadAllBytesAsync(name, Ct));
        }
    }

    [Fact]
    public async Task Chunks_are_ordered_normalised_and_tile_the_file()
    {
        var blob = HandmadeEstargz.Build(Files, chunkSize: 4096);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), null, cancellationToken: Ct);

        var big = reader.GetEntry("usr/lib/big.bin");
        var chunks = reader.GetChunks(big);
        Assert.Equal(25, chunks.Count); // 24 full chunks of 4096 and a last one of 1696
        Assert.All(chunks.SkipLast(1), c => Assert.Equal(4096, c.Size));
        Assert.Equal(100_000 - (24 * 4096), chunks[^1].Size);
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i - 1].FileEnd, chunks[i].FileOffset);
            // Each member ends where the next begins: fetching the extent gets exactly one member.
            Assert.Equal(chunks[i - 1].CompressedOffset + chunks[i - 1].CompressedLength, chunks[i].CompressedOffset);
        }
        Assert.Equal(2, reader.GetChunks(reader.GetEntry("usr/lib/exact.bin")).Count);
        Assert.Empty(reader.GetChunks(reader.GetEntry("etc/empty")));
        Assert.Equal(chunks[3], reader.FindChunk(big, (3 * 4096) + 5));
        Assert.Null(reader.FindChunk(big, 100_000));
    }

    [Fact]
    public async Task Reads_ranges_across_chunk_boundaries()
    {
        var blob = HandmadeEstargz.Build(Files, chunkSize: 4096);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), null, cancellationToken: Ct);
        var big = reader.GetEntry("usr/lib/big.bin");
        var content = Files[2].Item2;

        foreach (var (offset, length) in new[] { (0, 10), (4000, 200), (4096, 4096), (5000, 20_000), (99_990, 100), (100_000, 10) })
        {
            var buffer = new byte[length];
            var read = await reader.ReadFileAsync(big, offset, buffer, Ct);
            var expected = content.AsSpan(Math.Min(offset, content.Length), Math.Clamp(content.Length - offset, 0, length)).ToArray();
            Assert.Equal(expected.Length, read);
            Assert.Equal(expected, buffer[..read]);
        }
    }

    [Fact]
    public async Task ReadChunk_decompresses_exactly_the_fetched_member()
    {
        var blob = HandmadeEstargz.Build(Files, chunkSize: 4096);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), null, cancellationToken: Ct);
        var chunk = reader.GetChunks(reader.GetEntry("usr/lib/big.bin"))[7];

        var compressed = blob.Bytes.AsSpan((int)chunk.CompressedOffset, (int)chunk.CompressedLength);
        var output = new byte[chunk.Size + 100];
        reader.ReadChunk(chunk, compressed, output);

        Assert.Equal(Files[2].Item2.AsSpan(7 * 4096, 4096).ToArray(), output[..4096]);
        Assert.All(output[4096..], b => Assert.Equal(0, b)); // nothing written past the chunk
    }

    [Fact]
    public async Task Index_has_canonical_names_implicit_directories_and_children()
    {
        var blob = HandmadeEstargz.Build(Files);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), null, cancellationToken: Ct);

        Assert.True(reader.TryGetEntry("./etc/hostname", out var hostname));
        Assert.Same(hostname, reader.GetEntry("etc/hostname"));
        Assert.Equal(TocEntryTypes.Directory, reader.GetEntry("usr/lib/").Type);
        Assert.Equal(["etc", "usr"], reader.GetChildren(""));
        Assert.Equal(["usr/lib/big.bin", "usr/lib/exact.bin"], reader.GetChildren("usr/lib"));
        Assert.False(reader.TryGetEntry("../etc/hostname", out _));
        Assert.Throws<FileNotFoundException>(() => reader.GetEntry("nope"));
    }

    [Fact]
    public async Task Hardlinks_resolve_to_their_target_through_chains()
    {
        var blob = HandmadeEstargz.EditToc(HandmadeEstargz.Build(Files), toc =>
        {
            toc.Entries.Add(new TocEntry { Name = "link1", Type = TocEntryTypes.Hardlink, LinkName = "usr/lib/big.bin" });
            toc.Entries.Add(new TocEntry { Name = "link2", Type = TocEntryTypes.Hardlink, LinkName = "./link1" });
        });
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), blob.TocDigest, cancellationToken: Ct);

        var target = reader.GetEntry("usr/lib/big.bin");
        Assert.Same(target, reader.ResolveHardlink(reader.GetEntry("link2")));
        Assert.Equal(Files[2].Item2, await reader.ReadAllBytesAsync("link2", Ct));
    }

    [Fact]
    public async Task Owner_names_are_filled_in_from_the_first_entry_with_the_id()
    {
        var blob = HandmadeEstargz.EditToc(HandmadeEstargz.Build(Files), toc =>
        {
            toc.Entries[0].Uid = 1000;
            toc.Entries[0].UserName = "alice";
            toc.Entries[1].Uid = 1000;
        });
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), null, cancellationToken: Ct);
        Assert.Equal("alice", reader.GetEntry("etc/empty").UserName);
    }

    [Fact]
    public async Task A_large_toc_takes_a_second_read()
    {
        var many = Enumerable.Range(0, 3000).Select(i => ($"dir/file-{i:D5}", new[] { (byte)i })).ToArray();
        var blob = HandmadeEstargz.Build(many);
        var source = new CountingBlobSource(blob.Bytes);

        var reader = await EstargzReader.OpenAsync(source, blob.TocDigest, new EstargzReaderOptions { TailReadSize = 4096 }, Ct);

        Assert.Equal(2, source.Reads.Count);
        // The second read ends where the first began: nothing is read twice.
        Assert.Equal(source.Reads[0].Offset, source.Reads[1].Offset + source.Reads[1].Length);
        Assert.Equal(3000, reader.GetChildren("dir").Count);
        Assert.Equal(new byte[] { 77 }, await reader.ReadAllBytesAsync("dir/file-00077", Ct));
    }

    [Fact]
    public async Task Legacy_stargz_footer_is_read()
    {
        var blob = HandmadeEstargz.Build(Files, legacyFooter: true);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), blob.TocDigest, cancellationToken: Ct);
        Assert.Equal(EstargzFormat.LegacyStargz, reader.Format);
        Assert.Equal(Files[0].Item2, await reader.ReadAllBytesAsync("etc/hostname", Ct));
    }

    [Fact]
    public async Task A_wrong_toc_digest_is_refused()
    {
        var blob = HandmadeEstargz.Build(Files);
        var wrong = Digest.Compute("other"u8);
        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => EstargzReader.OpenAsync(new MemoryBlobSource(blob.Bytes), wrong, cancellationToken: Ct));
        Assert.Equal(blob.TocDigest, error.Actual);
    }

    [Fact]
    public async Task File_and_stream_sources_read_the_same_bytes()
    {
        var blob = HandmadeEstargz.Build(Files, chunkSize: 4096);
        using var directory = new Snapshotter.Testing.TempDirectory();
        var path = directory.Combine("layer.esgz");
        await File.WriteAllBytesAsync(path, blob.Bytes, Ct);

        using var file = new FileBlobSource(path);
        using var stream = new StreamBlobSource(new MemoryStream(blob.Bytes));
        foreach (IBlobSource source in new IBlobSource[] { file, stream })
        {
            var reader = await EstargzReader.OpenAsync(source, blob.TocDigest, cancellationToken: Ct);
            Assert.Equal(Files[2].Item2, await reader.ReadAllBytesAsync("usr/lib/big.bin", Ct));
            await Assert.ThrowsAsync<EndOfStreamException>(async () => await source.ReadAsync(source.Size - 2, new byte[3], Ct));
        }
    }
}
