using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>A chunk whose bytes do not match its TOC digest is answered with EIO, never with its data, and counted.</summary>
public sealed class CorruptChunkTests
{
    [Fact]
    public async Task A_chunk_that_fails_verification_reads_as_EIO_and_is_counted()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-corrupt");
        var big = SampleLayers.Pattern(1024 * 1024, 7);
        var valid = await TestLayers.BuildAsync(new TarBuilder().File("good", "good\n").File("big", big).Build(), temp.Combine("valid.esgz"),
            new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1 });
        // The third chunk of "big" claims a digest its bytes do not have.
        var wrong = Digest.Compute("not this chunk"u8).Value;
        var hostile = TestLayers.EditToc(valid, toc => toc.Entries.Where(e => e.Name == "big").ElementAt(2).ChunkDigest = wrong, temp.Combine("hostile.esgz"));
        using var mounted = await MountedLayer.MountAsync(hostile, temp.Combine("mnt"));

        var error = await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllBytesAsync(Path.Combine(mounted.Path, "big"), TestContext.Current.CancellationToken));
        Assert.Equal(5, error.HResult & 0xFFFF); // EIO

        // Bytes before the bad chunk are still served, and verified; the bad range never is.
        await using (var stream = new FileStream(Path.Combine(mounted.Path, "big"), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None))
        {
            var head = new byte[512 * 1024];
            await stream.ReadExactlyAsync(head, TestContext.Current.CancellationToken);
            Assert.True(big.AsSpan(0, head.Length).SequenceEqual(head));
            stream.Position = 2 * 256 * 1024 + 10;
            await Assert.ThrowsAnyAsync<IOException>(() => stream.ReadAsync(new byte[100], TestContext.Current.CancellationToken).AsTask());
        }
        Assert.Equal("good\n", await File.ReadAllTextAsync(Path.Combine(mounted.Path, "good"), TestContext.Current.CancellationToken));
        Assert.True(mounted.Mount.Statistics.VerificationFailures >= 1);
        var status = await File.ReadAllTextAsync(Path.Combine(mounted.Path, ".stargz-snapshotter", "layer.json"), TestContext.Current.CancellationToken);
        Assert.Contains($"\"digest\":\"{hostile.BlobDigest}\"", status, StringComparison.Ordinal);
        Assert.DoesNotContain("\"verificationFailures\":0", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_file_is_hidden_and_reports_fetched_bytes()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-status");
        var layer = await TestLayers.BuildAsync(new TarBuilder().File("one", SampleLayers.Pattern(100_000, 1)).File("two", "two\n").Build(), temp.Combine("layer.esgz"));
        // Small enough to be prefetched whole by default; the status must first show nothing fetched.
        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"),
            new LayerMountOptions { Prefetch = PrefetchOptions.Default with { WholeLayerMaxBytes = 0 } });

        Assert.Equal(["one", "two"], Directory.EnumerateFileSystemEntries(mounted.Path).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal));
        var statusPath = Path.Combine(mounted.Path, ".stargz-snapshotter", "layer.json");
        Assert.Contains("\"fetchedSize\":0,", await File.ReadAllTextAsync(statusPath, TestContext.Current.CancellationToken), StringComparison.Ordinal);
        await File.ReadAllBytesAsync(Path.Combine(mounted.Path, "one"), TestContext.Current.CancellationToken);
        var after = await File.ReadAllTextAsync(statusPath, TestContext.Current.CancellationToken);
        Assert.DoesNotContain("\"fetchedSize\":0,", after, StringComparison.Ordinal);
        Assert.Contains($"\"size\":{new FileInfo(layer.Path).Length},", after, StringComparison.Ordinal);
        Assert.True(mounted.Mount.Statistics.FetchedBytes > 0);
    }
}
