using Snapshotter.Oci;

namespace Snapshotter.Estargz.Tests;

public sealed class VerifierTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<EstargzVerificationResult> Verify(byte[] blob, Digest? digest = null) =>
        EstargzVerifier.VerifyAsync(new MemoryBlobSource(blob), digest, cancellationToken: Ct);

    [Fact]
    public async Task A_built_layer_verifies_with_every_count_filled_in()
    {
        var (blob, result) = await Build.EstargzAsync(Build.Sample.Build(), Build.SmallChunks with { MinChunkSize = 8192 });

        var report = await Verify(blob, result.TocDigest);

        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        Assert.Equal(result.TocDigest, report.TocDigest);
        Assert.Equal(EstargzFormat.Estargz, report.Format);
        Assert.Equal(result.Toc.Entries.Count, report.TocEntryCount);
        Assert.Equal(result.Toc.Entries.Count(e => e.Type == TocEntryTypes.Regular), report.RegularFileCount);
        Assert.Equal(result.Toc.Entries.Count(e => e.ChunkDigest is not null), report.ChunkCount);
        Assert.Equal(report.ChunkCount, report.VerifiedChunkCount);
        Assert.Equal(result.Toc.Entries.Where(e => e.Type == TocEntryTypes.Regular).Sum(e => e.Size), report.VerifiedBytes);
        Assert.Equal(result.Toc.Entries.Count(e => e.Type != TocEntryTypes.Chunk) + 1, report.TarEntryCount);
    }

    [Fact]
    public async Task A_handmade_legacy_layer_verifies()
    {
        var blob = HandmadeEstargz.Build([("a", "x"u8.ToArray()), ("b", HandmadeEstargz.RandomBytes(50_000, 1))], chunkSize: 10_000, legacyFooter: true);
        var report = await Verify(blob.Bytes, blob.TocDigest);
        Assert.True(report.IsValid, string.Join("\n", report.Problems));
        Assert.Equal(EstargzFormat.LegacyStargz, report.Format);
        Assert.Equal(6, report.ChunkCount);
    }

    [Fact]
    public async Task A_wrong_toc_digest_is_reported()
    {
        var (blob, _) = await Build.EstargzAsync(Build.Sample.Build());
        var report = await Verify(blob, Digest.Compute("not the toc"u8));
        Assert.False(report.IsValid);
        Assert.Contains("digest mismatch for TOC", Assert.Single(report.Problems), StringComparison.Ordinal);
        Assert.Null(report.TocDigest);
    }

    [Fact]
    public async Task Garbage_is_reported_not_thrown()
    {
        var report = await Verify(HandmadeEstargz.RandomBytes(5000, 2));
        Assert.False(report.IsValid);
        Assert.Contains("footer", report.Problems[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Corrupted_chunks_are_each_reported()
    {
        var (blob, result) = await Build.EstargzAsync(Build.Sample.Build(), Build.SmallChunks);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob), result.TocDigest, cancellationToken: Ct);
        foreach (var chunk in reader.GetChunks(reader.GetEntry("usr/lib/big.bin")).Take(2))
        {
            blob[chunk.CompressedOffset + (chunk.CompressedLength / 2)] ^= 0xff;
        }

        var report = await Verify(blob, result.TocDigest);

        Assert.False(report.IsValid);
        Assert.Equal(report.ChunkCount - 2, report.VerifiedChunkCount);
        Assert.Equal(2, report.Problems.Count(p => p.Contains("usr/lib/big.bin", StringComparison.Ordinal) && p.Contains("chunk", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_toc_that_lies_about_metadata_is_reported()
    {
        var original = HandmadeEstargz.Build([("a", "alpha"u8.ToArray()), ("b", "beta"u8.ToArray())]);
        var lying = HandmadeEstargz.EditToc(original, toc =>
        {
            toc.Entries[0].Mode = 0x1ff;
            toc.Entries[1].Uid = 42;
        });

        var report = await Verify(lying.Bytes, lying.TocDigest);

        Assert.Contains(report.Problems, p => p.Contains("'a': mode", StringComparison.Ordinal));
        Assert.Contains(report.Problems, p => p.Contains("'b': uid", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_toc_with_an_entry_the_tar_lacks_is_reported()
    {
        var original = HandmadeEstargz.Build([("a", "alpha"u8.ToArray())]);
        var lying = HandmadeEstargz.EditToc(original, toc => toc.Entries.Add(new TocEntry { Name = "ghost", Type = TocEntryTypes.Directory }));

        var report = await Verify(lying.Bytes, lying.TocDigest);

        Assert.False(report.IsValid);
        Assert.Contains(report.Problems, p => p.Contains("ghost", StringComparison.Ordinal) || p.Contains("entries", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_digest_that_disagrees_with_its_chunks_is_reported()
    {
        var original = HandmadeEstargz.Build([("a", "alpha"u8.ToArray())]);
        var lying = HandmadeEstargz.EditToc(original, toc => toc.Entries[0].Digest = Digest.Compute("other"u8).Value);

        var report = await Verify(lying.Bytes, lying.TocDigest);

        Assert.Contains(report.Problems, p => p.Contains("'a': content digest", StringComparison.Ordinal));
    }
}
