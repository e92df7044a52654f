using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>Two mounted layers as overlayfs lowerdirs: whiteouts hide lower files, opaque directories hide lower content.</summary>
public sealed class OverlayTests
{
    [Fact]
    public async Task Whiteouts_and_opaque_directories_work_as_overlay_lower_layers()
    {
        Requirements.Root();
        Requirements.Fuse();
        Requirements.Tool("getfattr", "attr");
        using var temp = new TempDirectory("fs-overlay");
        var lower = new TarBuilder()
            .Directory("a/").File("a/keep", "keep\n").File("a/gone", "gone\n")
            .Directory("b/").File("b/old1", "old1\n").Directory("b/sub/").File("b/sub/old2", "old2\n")
            .Directory("c/").File("c/file", "c\n")
            .File("top-gone", "x\n")
            .Build();
        var upper = new TarBuilder()
            .Directory("a/").Whiteout("a/gone")
            .Directory("b/").OpaqueWhiteout("b").File("b/new", "new\n")
            .Whiteout("top-gone")
            .Directory("d/").File("d/x", "d\n")
            .Build();
        var lowerLayer = await TestLayers.BuildAsync(lower, temp.Combine("lower.esgz"));
        var upperLayer = await TestLayers.BuildAsync(upper, temp.Combine("upper.esgz"));
        using var lowerMount = await MountedLayer.MountAsync(lowerLayer, temp.Combine("lower"));
        using var upperMount = await MountedLayer.MountAsync(upperLayer, temp.Combine("upper"));
        var merged = temp.Combine("merged");
        Directory.CreateDirectory(merged);
        (await ProcessRunner.RunAsync("mount", ["-t", "overlay", "overlay", "-o", $"lowerdir={upperMount.Path}:{lowerMount.Path}", merged], TimeSpan.FromSeconds(30), cancellationToken: TestContext.Current.CancellationToken)).EnsureSuccess();
        try
        {
            Assert.Equal("keep\n", await File.ReadAllTextAsync(Path.Combine(merged, "a/keep"), TestContext.Current.CancellationToken));
            Assert.False(Path.Exists(Path.Combine(merged, "a/gone")));
            Assert.False(Path.Exists(Path.Combine(merged, "top-gone")));
            Assert.Equal(["new"], Directory.EnumerateFileSystemEntries(Path.Combine(merged, "b")).Select(p => Path.GetFileName(p)));
            Assert.False(Path.Exists(Path.Combine(merged, "b/old1")));
            Assert.False(Path.Exists(Path.Combine(merged, "b/sub")));
            Assert.Equal("c\n", await File.ReadAllTextAsync(Path.Combine(merged, "c/file"), TestContext.Current.CancellationToken));
            Assert.Equal("d\n", await File.ReadAllTextAsync(Path.Combine(merged, "d/x"), TestContext.Current.CancellationToken));
            Assert.Equal(["a", "b", "c", "d"], Directory.EnumerateFileSystemEntries(merged).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal));
            // The lower layer alone still has everything.
            Assert.True(File.Exists(Path.Combine(lowerMount.Path, "a/gone")));
            Assert.True(File.Exists(Path.Combine(lowerMount.Path, "b/sub/old2")));
            // A layer without extended attributes lets the kernel answer for it (overlayfs asks
            // each lower entry for its opaque, redirect and metacopy attributes); one with them answers.
            var none = await ProcessRunner.RunAsync("getfattr", ["-n", "trusted.overlay.opaque", Path.Combine(lowerMount.Path, "b")], TimeSpan.FromSeconds(30), cancellationToken: TestContext.Current.CancellationToken);
            Assert.NotEqual(0, none.ExitCode);
            Assert.Contains("Operation not supported", none.StandardError, StringComparison.Ordinal);
            var opaque = await ProcessRunner.RunAsync("getfattr", ["-n", "trusted.overlay.opaque", "--only-values", Path.Combine(upperMount.Path, "b")], TimeSpan.FromSeconds(30), cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal("y", opaque.EnsureSuccess().StandardOutput);
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["-l", merged], TimeSpan.FromSeconds(30), cancellationToken: TestContext.Current.CancellationToken);
        }
    }
}
