using Snapshotter.Estargz;
using Snapshotter.Testing;

namespace Snapshotter.Fs.Tests;

/// <summary>A mounted layer must look exactly like `tar -x` of the same layer, whiteouts turned into overlay form.</summary>
public sealed class TarComparisonTests
{
    [Theory]
    [InlineData(1, 0, EstargzFormat.Estargz)]
    [InlineData(8, 16 * 1024, EstargzFormat.Estargz)]
    [InlineData(8, 16 * 1024, EstargzFormat.ZstdChunked)]
    public async Task Mount_matches_tar_extraction(int concurrency, int minChunkSize, EstargzFormat format)
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-compare");
        var builder = TestLayers.Everything();
        var tar = builder.Build();
        var layer = await TestLayers.BuildAsync(tar, temp.Combine("layer.esgz"), new EstargzBuildOptions { ChunkSize = 256 * 1024, MinChunkSize = minChunkSize, CompressionLevel = 1, Format = format });
        await TestLayers.ExtractAsync(builder, temp.Combine("extracted"));
        var expected = WhiteoutsAsOverlay(FileTree.Read(temp.Combine("extracted")));

        using var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt"));
        var walks = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(() => FileTree.Read(mounted.Path), TestContext.Current.CancellationToken)));

        foreach (var actual in walks)
        {
            var differences = FileTree.Differences(expected, actual);
            Assert.True(differences.Count == 0, string.Join('\n', differences));
        }
        Assert.Contains(expected, e => e.Path == "usr/lib/big.bin" && e.Links == 2);
        Assert.Contains(expected, e => e.Type == 'c' && e.Path == "etc/removed");
        Assert.Equal(0, mounted.Mount.Statistics.VerificationFailures);
    }

    [Fact]
    public async Task Inode_numbers_hardlinks_blocks_and_readdir_are_stable()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-stable");
        var layer = await TestLayers.BuildAsync(TestLayers.Everything().Build(), temp.Combine("layer.esgz"));
        Dictionary<string, ulong> first;
        List<string> firstListing;
        using (var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt1")))
        {
            first = Inodes(mounted.Path);
            firstListing = [.. Directory.EnumerateFileSystemEntries(Path.Combine(mounted.Path, "usr/lib")).Select(p => Path.GetFileName(p))];
            var big = Stat.Of(Path.Combine(mounted.Path, "usr/lib/big.bin"));
            Assert.Equal(first["usr/lib/big.bin"], first["usr/lib/hard-to-big"]);
            Assert.NotEqual(first["usr/lib/big.bin"], first["usr/lib/aligned.bin"]);
            Assert.Equal((ulong)((3L * 1024 * 1024 + 123 + 511) / 512), big.Blocks);
            Assert.Equal(2u, big.Links);
        }
        using (var mounted = await MountedLayer.MountAsync(layer, temp.Combine("mnt2")))
        {
            Assert.Equal(first, Inodes(mounted.Path));
            Assert.Equal(firstListing, Directory.EnumerateFileSystemEntries(Path.Combine(mounted.Path, "usr/lib")).Select(Path.GetFileName));
        }
    }

    /// <summary>What overlayfs expects of a lower layer: `.wh.x` → a 0/0 char device x, `.wh..wh..opq` → trusted.overlay.opaque=y on the directory.</summary>
    internal static List<FileTreeEntry> WhiteoutsAsOverlay(IReadOnlyList<FileTreeEntry> extracted)
    {
        var opaque = extracted.Where(e => Path.GetFileName(e.Path) == ".wh..wh..opq").Select(e => Parent(e.Path)).ToHashSet();
        var result = new List<FileTreeEntry>();
        foreach (var entry in extracted)
        {
            var name = Path.GetFileName(entry.Path);
            if (name == ".wh..wh..opq")
            {
                continue;
            }
            if (name.StartsWith(".wh.", StringComparison.Ordinal))
            {
                var parent = Parent(entry.Path);
                var target = (parent.Length == 0 ? "" : parent + "/") + name[4..];
                result.Add(entry with { Path = target, Type = 'c', Mode = 0, Size = 0, Sha256 = null, Xattrs = "", DeviceMajor = 0, DeviceMinor = 0, Links = 1 });
                continue;
            }
            if (entry.Type == 'd' && opaque.Contains(entry.Path))
            {
                var xattrs = entry.Xattrs.Split(',', StringSplitOptions.RemoveEmptyEntries).Append("trusted.overlay.opaque=79").Order(StringComparer.Ordinal);
                result.Add(entry with { Xattrs = string.Join(',', xattrs) });
                continue;
            }
            result.Add(entry);
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return result;
    }

    private static string Parent(string path) => path.Contains('/', StringComparison.Ordinal) ? path[..path.LastIndexOf('/')] : "";

    private static Dictionary<string, ulong> Inodes(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .ToDictionary(p => Path.GetRelativePath(root, p), p => Stat.Of(p).Ino);
}
