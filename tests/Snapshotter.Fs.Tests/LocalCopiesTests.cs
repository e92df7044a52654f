using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>
/// Files the prefetch brings whole are copied, with the layer's metadata, to a directory stacked
/// above the mount in overlayfs; the merged view is the mount's, and nothing unverified is copied.
/// </summary>
public sealed class LocalCopiesTests
{
    private static readonly byte[] Big = SampleLayers.Pattern(700_000, 3);

    [Fact]
    public async Task Whole_prefetched_files_are_copied_with_their_metadata_and_the_merged_view_is_the_mounts()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-local-copies");
        var layer = await TestLayers.BuildAsync(SampleTree().Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions
        {
            ChunkSize = 256 * 1024,
            CompressionLevel = 1,
            PrioritizedFiles = ["app/main.py", "app/big.bin", "app/setuid", "secret/key", "app/tagged", "app/linked", "elsewhere/late.txt"],
        });
        var local = temp.Combine("local");
        Directory.CreateDirectory(local);
        // A daemon that died mid-copy left its staging directory behind.
        Directory.CreateDirectory(local + ".staging");
        await File.WriteAllTextAsync(Path.Combine(local + ".staging", "1"), "half a file", TestContext.Current.CancellationToken);
        using var mounted = await MountAsync(layer, temp.Combine("fs"), local);
        await mounted.Mount.LocalCopiesCompletion.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.False(Directory.Exists(local + ".staging"));

        // Whole prefetched files, and the empty files and symlinks of their directories.
        Assert.Equal(
            ["app", "app/__init__.py", "app/big.bin", "app/current", "app/main.py", "app/setuid", "elsewhere", "elsewhere/late.txt", "secret", "secret/key"],
            Directory.EnumerateFileSystemEntries(local, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(local, p)).Order(StringComparer.Ordinal));
        // Not copied: a file with xattrs, one with two names, and what the prefetch does not bring.
        Assert.False(Path.Exists(Path.Combine(local, "app/tagged")));
        Assert.False(Path.Exists(Path.Combine(local, "app/linked")));
        Assert.False(Path.Exists(Path.Combine(local, "cold/data")));
        var viaMount = Normalized(FileTree.Read(mounted.Path, new HashSet<string> { ".stargz-snapshotter" }));
        var copies = Normalized(FileTree.Read(local));
        Assert.Empty(FileTree.Differences(viaMount.Where(e => copies.Any(c => c.Path == e.Path)).ToList(), copies));
        Assert.Equal(new DirectoryInfo(mounted.Path).UnixFileMode, new DirectoryInfo(local).UnixFileMode);
        Assert.Equal(new DirectoryInfo(mounted.Path).LastWriteTimeUtc, new DirectoryInfo(local).LastWriteTimeUtc);
        // Five files with content, an empty one and a symlink.
        Assert.Equal((7, Big.Length + "print(1)\n".Length + "#!\n".Length + "k\n".Length + "late\n".Length), mounted.Mount.LocalCopied);

        var merged = temp.Combine("merged");
        Directory.CreateDirectory(merged);
        (await ProcessRunner.RunAsync("mount", ["-t", "overlay", "overlay", "-o", $"lowerdir={local}:{mounted.Path}", merged], TimeSpan.FromSeconds(30),
            cancellationToken: TestContext.Current.CancellationToken)).EnsureSuccess();
        try
        {
            Assert.Empty(FileTree.Differences(viaMount, Normalized(FileTree.Read(merged))));
            var big = await File.ReadAllBytesAsync(Path.Combine(merged, "app/big.bin"), TestContext.Current.CancellationToken);
            Assert.True(Big.AsSpan().SequenceEqual(big));
            Assert.Equal("cold\n", await File.ReadAllTextAsync(Path.Combine(merged, "cold/data"), TestContext.Current.CancellationToken));
            Assert.Equal("tagged\n", await File.ReadAllTextAsync(Path.Combine(merged, "app/tagged"), TestContext.Current.CancellationToken));
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["-l", merged], TimeSpan.FromSeconds(30), cancellationToken: TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_file_with_a_chunk_that_fails_verification_is_not_copied()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-local-corrupt");
        var valid = await TestLayers.BuildAsync(new TarBuilder().Directory("app/").File("app/good", "good\n").File("app/big.bin", Big).File("app/later", "later\n").Build(),
            temp.Combine("valid.esgz"), new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1, PrioritizedFiles = ["app/good", "app/big.bin", "app/later"] });
        var wrong = Digest.Compute("not this chunk"u8).Value;
        var hostile = TestLayers.EditToc(valid, toc => toc.Entries.Where(e => e.Name == "app/big.bin").ElementAt(1).ChunkDigest = wrong, temp.Combine("hostile.esgz"));
        var local = temp.Combine("local");
        Directory.CreateDirectory(local);
        using var mounted = await MountAsync(hostile, temp.Combine("fs"), local);
        await mounted.Mount.LocalCopiesCompletion.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Equal(["app/good", "app/later"], Directory.EnumerateFiles(local, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(local, p)).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(temp.Path), p => p.EndsWith(".staging", StringComparison.Ordinal));
        await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllBytesAsync(Path.Combine(mounted.Path, "app/big.bin"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Without_a_prefetch_the_directory_still_carries_the_layer_roots_attributes_and_xattrs()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-local-root");
        var layer = await TestLayers.BuildAsync(new TarBuilder()
            .Add(new TarEntrySpec { Name = "./", Kind = TarEntryKind.Directory, Mode = Convert.ToInt32("750", 8), Uid = 1000, Gid = 100,
                Xattrs = new Dictionary<string, string> { ["user.note"] = "root" } })
            .File("data", "data\n").Build(), temp.Combine("layer.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        var local = temp.Combine("local");
        Directory.CreateDirectory(local);
        using var mounted = await MountAsync(layer, temp.Combine("fs"), local);
        await mounted.Mount.LocalCopiesCompletion.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Empty(Directory.EnumerateFileSystemEntries(local));
        var both = FileTree.Read(temp.Path, hashContent: false);
        var (root, copies) = (both.Single(e => e.Path == "fs"), both.Single(e => e.Path == "local"));
        Assert.Contains("user.note", root.Xattrs, StringComparison.Ordinal);
        Assert.Equal(root with { Path = "local", Links = 0, Size = 0 }, copies with { Links = 0, Size = 0 });
    }

    [Fact]
    public async Task A_small_layer_prefetched_whole_is_copied_only_when_its_toc_has_a_prefetch_region()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-local-small");
        var tar = new TarBuilder().Directory("etc/").File("etc/app.conf", "port 80\n").File("etc/page.html", "<h1>ready</h1>\n").Build();
        var unoptimized = await TestLayers.BuildAsync(tar, temp.Combine("plain.esgz"), new EstargzBuildOptions { CompressionLevel = 1 });
        var optimized = await TestLayers.BuildAsync(tar, temp.Combine("optimized.esgz"), new EstargzBuildOptions { CompressionLevel = 1, PrioritizedFiles = ["etc/app.conf"] });

        // .no.prefetch.landmark: prefetched whole (it is small), but every access stays with the mount, where optimize records it.
        var plainLocal = Directory.CreateDirectory(temp.Combine("plain-local")).FullName;
        using (var plain = await MountAsync(unoptimized, temp.Combine("plain-fs"), plainLocal))
        {
            await plain.Mount.PrefetchCompletion.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            await plain.Mount.LocalCopiesCompletion.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            Assert.True(plain.Mount.Statistics.FetchedBytes > 0);
            Assert.Empty(Directory.EnumerateFiles(plainLocal, "*", SearchOption.AllDirectories));
        }

        // A prefetch region of its own: the whole small layer comes, and all of it is copied.
        var optimizedLocal = Directory.CreateDirectory(temp.Combine("optimized-local")).FullName;
        using var mounted = await MountAsync(optimized, temp.Combine("optimized-fs"), optimizedLocal);
        await mounted.Mount.LocalCopiesCompletion.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(["etc/app.conf", "etc/page.html"],
            Directory.EnumerateFiles(optimizedLocal, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(optimizedLocal, p)).Order(StringComparer.Ordinal));
    }

    /// <summary>A prefetched app directory with every kind of entry, a cold one, and a protected one with its own owner and mode.</summary>
    private static TarBuilder SampleTree() => new TarBuilder()
        .Directory("app/", mode: Convert.ToInt32("750", 8), uid: 1000, gid: 1000)
        .File("app/main.py", "print(1)\n")
        .File("app/big.bin", Big)
        .File("app/__init__.py", "")
        .Symlink("app/current", "main.py")
        .Add(new TarEntrySpec { Name = "app/setuid", Kind = TarEntryKind.Regular, Content = "#!\n"u8.ToArray(), Mode = Convert.ToInt32("4755", 8), Uid = 1000, Gid = 100 })
        .File("app/tagged", "tagged\n"u8.ToArray(), xattrs: new Dictionary<string, string> { ["user.note"] = "x" })
        .File("app/linked", "linked\n")
        .Hardlink("app/linked2", "app/linked")
        .Directory("secret/", mode: Convert.ToInt32("700", 8), uid: 0, gid: 0)
        .File("secret/key", "k\n")
        .Directory("elsewhere/")
        .File("elsewhere/late.txt", "late\n")
        .Directory("cold/")
        .File("cold/data", "cold\n");

    private static async Task<MountedLayer> MountAsync(EstargzFile layer, string mountPoint, string local)
    {
        Directory.CreateDirectory(mountPoint);
        var blob = new FileBlob(layer.Path, layer.BlobDigest);
        var reader = await EstargzReader.OpenAsync(blob, layer.TocDigest);
        var content = LayerContent.Open(reader, blob);
        _ = content.StartPrefetch();
        return MountedLayer.Adopt(blob, await LayerMount.MountAsync(content, mountPoint, localCopies: local, cancellationToken: TestContext.Current.CancellationToken));
    }

    /// <summary>Directories' link counts and sizes are the file system's own (a copy holds fewer subdirectories); the rest must agree.</summary>
    private static List<FileTreeEntry> Normalized(IReadOnlyList<FileTreeEntry> entries) =>
        [.. entries.Select(e => e.Type == 'd' ? e with { Links = 0, Size = 0 } : e)];
}
