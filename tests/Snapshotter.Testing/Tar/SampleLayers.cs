using System.Text;

namespace Snapshotter.Testing.Tar;

/// <summary>Ready-made layers that exercise every corner of the tar format.</summary>
public static class SampleLayers
{
    /// <summary>
    /// Directories, small and multi-chunk files (with a 64 KiB chunk size the big file has several
    /// chunks), an empty file, symlink, hardlink, devices, fifo, whiteouts, xattrs, owners, long
    /// names in PAX and GNU form, a non-ASCII name and setuid/sticky modes. Each directory's
    /// entries are contiguous and every directory has its own entry, so `tar -x` leaves every
    /// directory mtime as recorded (GNU tar restores it when it leaves the directory).
    /// </summary>
    public static TarBuilder AllEntryKinds()
    {
        var levels = Enumerable.Range(1, 12).Select(depth => "deep/" + string.Join("/", Enumerable.Range(0, depth).Select(i => $"directory-{i:D2}"))).ToList();
        var longDir = levels[^1];
        var builder = new TarBuilder()
            .Directory("./")
            .Directory("bin/")
            .File("bin/sh", Pattern(10_000, 1), mode: 0x1ed)
            .Add(new TarEntrySpec { Name = "bin/su", Kind = TarEntryKind.Regular, Content = Pattern(3_000, 2), Mode = 0x9ed, Uid = 0, Gid = 0, UserName = "root", GroupName = "root" })
            .Directory("etc/")
            .File("etc/hostname", "layer\n")
            .File("etc/empty", [])
            .Add(new TarEntrySpec { Name = "etc/owned", Kind = TarEntryKind.Regular, Content = "owned\n"u8.ToArray(), Uid = 1000, Gid = 1001, UserName = "alice", GroupName = "staff" })
            .File("etc/xattr", "with xattrs\n"u8.ToArray(), xattrs: new Dictionary<string, string> { ["user.comment"] = "hello", ["security.capability"] = "\u0001\u0002" })
            .Whiteout("etc/removed")
            .Directory("tmp/", mode: 0x3ff)
            .Directory("usr/")
            .Directory("usr/lib/")
            .File("usr/lib/big.bin", Pattern(300_000, 3))
            .Symlink("usr/lib/link-to-big", "big.bin")
            .Hardlink("usr/lib/hard-to-big", "usr/lib/big.bin")
            .OpaqueWhiteout("usr/lib")
            .Directory("dev/")
            .CharDevice("dev/null", 1, 3)
            .BlockDevice("dev/sda", 8, 0)
            .Fifo("dev/fifo")
            .Directory("deep/");
        // Every level explicitly, so no directory is created implicitly (with the extraction time as mtime).
        levels.ForEach(level => builder.Add(new TarEntrySpec { Name = level + "/", Kind = TarEntryKind.Directory, Mode = 0x1ed }));
        return builder
            .Add(new TarEntrySpec { Name = longDir + "/pax-long-name.txt", Kind = TarEntryKind.Regular, Content = "pax\n"u8.ToArray() })
            .Add(new TarEntrySpec { Name = longDir + "/gnu-long-name.txt", Kind = TarEntryKind.Regular, Content = "gnu\n"u8.ToArray(), LongNames = LongNameFormat.Gnu })
            .Add(new TarEntrySpec { Name = "deep/long-symlink", Kind = TarEntryKind.Symlink, LinkName = longDir + "/pax-long-name.txt", Mode = 0x1ff })
            .File("Ünïcødé name.txt", Encoding.UTF8.GetBytes("ünïcødé\n"));
    }

    /// <summary>Deterministic, moderately compressible bytes.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i % 97 < 60 ? 'a' + (i % 26) : random.Next(256));
        }
        return bytes;
    }
}
