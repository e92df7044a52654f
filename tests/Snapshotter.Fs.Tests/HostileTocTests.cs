using System.Text;
using Snapshotter.Estargz;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>
/// TOCs a hostile or broken builder could produce: opening and mounting either refuses them or
/// serves a tree that stays inside the layer; nothing hangs.
/// </summary>
public sealed class HostileTocTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static TheoryData<string> RefusedTocs => new()
    {
        "dotdot", "absolute", "duplicate", "hardlink-missing", "hardlink-loop", "hardlink-self", "hardlink-forward", "file-as-directory", "hardlink-to-directory",
    };

    [Theory]
    [MemberData(nameof(RefusedTocs))]
    public async Task Escaping_duplicate_and_dangling_entries_are_refused_before_mounting(string kind)
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-hostile");
        var valid = await TestLayers.BuildAsync(new TarBuilder().Directory("a/").File("a/f", "f\n").File("g", "g\n").Build(), temp.Combine("valid.esgz"));
        var hostile = TestLayers.EditToc(valid, toc => Corrupt(toc, kind), temp.Combine("hostile.esgz"));
        var mountPoint = temp.Combine("mnt");

        var error = await Assert.ThrowsAsync<EstargzFormatException>(() => MountedLayer.MountAsync(hostile, mountPoint).WaitAsync(Limit, TestContext.Current.CancellationToken));

        Assert.NotEmpty(error.Message);
        Assert.Empty(Mounts.Under(temp.Path));
    }

    [Fact]
    public async Task Whiteouts_of_dot_and_dotdot_implicit_and_very_deep_directories_stay_inside_the_tree()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var temp = new TempDirectory("fs-hostile");
        var valid = await TestLayers.BuildAsync(new TarBuilder().Directory("a/").File("a/f", "f\n").Build(), temp.Combine("valid.esgz"));
        var deep = string.Join('/', Enumerable.Repeat("d", 1500)) + "/leaf";
        var hostile = TestLayers.EditToc(valid, toc =>
        {
            foreach (var name in new[] { "a/.wh..", "a/.wh...", "a/.wh.", ".wh..wh..opq", "x/y/z/.wh.w", deep })
            {
                toc.Entries.Add(new TocEntry { Name = name, Type = TocEntryTypes.Regular, Mode = 0x1a4 });
            }
            toc.Entries.Add(new TocEntry { Name = "a/up", Type = TocEntryTypes.Symlink, LinkName = "../../../../../etc/passwd", Mode = 0x1ff });
        }, temp.Combine("hostile.esgz"));

        using var mounted = await MountedLayer.MountAsync(hostile, temp.Combine("mnt")).WaitAsync(Limit, TestContext.Current.CancellationToken);

        var tree = await Task.Run(() => FileTree.Read(mounted.Path), TestContext.Current.CancellationToken).WaitAsync(Limit, TestContext.Current.CancellationToken);
        Assert.Equal(["f", "up"], Directory.EnumerateFileSystemEntries(Path.Combine(mounted.Path, "a")).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal));
        Assert.Contains(tree, e => e.Path == "x/y/z/w" && e.Type == 'c');
        Assert.Contains(tree, e => e.Path == "x/y/z" && e.Type == 'd' && e.Mode == 0x1ed);
        Assert.Contains(tree, e => e.Path == deep && e.Type == 'f' && e.Size == 0);
        Assert.Contains(tree, e => e.Path == "a/up" && e.LinkTarget == "../../../../../etc/passwd");
        Assert.Contains("trusted.overlay.opaque=79", Xattrs(mounted.Path), StringComparison.Ordinal);
        Assert.Equal("f\n", await File.ReadAllTextAsync(Path.Combine(mounted.Path, "a/f"), TestContext.Current.CancellationToken));
    }

    private static string Xattrs(string root) =>
        FileTree.Read(Path.GetDirectoryName(root)!).Single(e => e.Path == Path.GetFileName(root)).Xattrs;

    private static void Corrupt(Toc toc, string kind)
    {
        TocEntry Add(string name, string type, string? link = null)
        {
            var entry = new TocEntry { Name = name, Type = type, LinkName = link, Mode = 0x1a4 };
            toc.Entries.Add(entry);
            return entry;
        }
        switch (kind)
        {
            case "dotdot":
                Add("a/../../escape", TocEntryTypes.Regular);
                break;
            case "absolute":
                Add("/etc/shadow", TocEntryTypes.Regular);
                break;
            case "duplicate":
                Add("g", TocEntryTypes.Symlink, "a/f");
                break;
            case "hardlink-missing":
                Add("h", TocEntryTypes.Hardlink, "nowhere");
                break;
            case "hardlink-loop":
                toc.Entries.Insert(0, new TocEntry { Name = "l1", Type = TocEntryTypes.Hardlink, LinkName = "l2" });
                toc.Entries.Insert(1, new TocEntry { Name = "l2", Type = TocEntryTypes.Hardlink, LinkName = "l1" });
                break;
            case "hardlink-self":
                Add("self", TocEntryTypes.Hardlink, "self");
                break;
            case "hardlink-forward":
                toc.Entries.Insert(0, new TocEntry { Name = "early", Type = TocEntryTypes.Hardlink, LinkName = "g" });
                break;
            case "file-as-directory":
                Add("g/inside", TocEntryTypes.Regular);
                break;
            case "hardlink-to-directory":
                Add("dirlink", TocEntryTypes.Hardlink, "a");
                break;
            default:
                throw new ArgumentException(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(kind)), nameof(kind));
        }
    }
}
