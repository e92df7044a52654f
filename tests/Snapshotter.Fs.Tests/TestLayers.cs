using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Testing;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Fs.Tests;

/// <summary>An eStargz blob on disk and the digests a mount needs.</summary>
internal sealed record EstargzFile(string Path, Digest TocDigest, Digest BlobDigest, Toc Toc, long TocOffset);

/// <summary>Layers for the tests: built with <see cref="TarBuilder"/>, converted by <see cref="EstargzBuilder"/>.</summary>
internal static class TestLayers
{
    /// <summary>Every entry type, owners, modes, xattrs, hardlinks, long and non-ASCII names, an empty file, multi-chunk files and whiteouts.</summary>
    public static TarBuilder Everything()
    {
        var levels = Enumerable.Range(0, 12).Select(i => "deep/" + string.Join("/", Enumerable.Range(0, i + 1).Select(j => $"directory-{j:D2}"))).ToList();
        var longDir = levels[^1];
        var owned = new DateTimeOffset(2021, 6, 7, 8, 9, 10, TimeSpan.Zero);
        var builder = new TarBuilder().Directory("deep/");
        foreach (var level in levels)
        {
            builder.Add(new TarEntrySpec { Name = level + "/", Kind = TarEntryKind.Directory, Mode = 0x1ed });
        }
        return builder
            .Directory("bin/")
            .File("bin/sh", SampleLayers.Pattern(10_000, 1), mode: 0x1ed)
            .Add(new TarEntrySpec { Name = "bin/su", Kind = TarEntryKind.Regular, Content = SampleLayers.Pattern(3_000, 2), Mode = 0x9ed, UserName = "root", GroupName = "root" })
            .Directory("etc/")
            .File("etc/hostname", "layer\n")
            .File("etc/empty", [])
            .Add(new TarEntrySpec { Name = "etc/owned", Kind = TarEntryKind.Regular, Content = "owned\n"u8.ToArray(), Uid = 1000, Gid = 1001, UserName = "alice", GroupName = "staff", ModTime = owned, Mode = 0x180 })
            .File("etc/xattr", "with xattrs\n"u8.ToArray(), xattrs: new Dictionary<string, string> { ["user.comment"] = "hello", ["trusted.note"] = "x", ["user.empty"] = "" })
            .Add(new TarEntrySpec { Name = "tmp/", Kind = TarEntryKind.Directory, Mode = 0x3ff })
            .Directory("usr/")
            .Directory("usr/lib/")
            .File("usr/lib/big.bin", SampleLayers.Pattern(3 * 1024 * 1024 + 123, 3))
            .File("usr/lib/aligned.bin", SampleLayers.Pattern(1024 * 1024, 4))
            .Symlink("usr/lib/link-to-big", "big.bin")
            .Symlink("usr/lib/absolute-link", "/etc/hostname")
            .Hardlink("usr/lib/hard-to-big", "usr/lib/big.bin")
            .Hardlink("etc/hard-to-owned", "etc/owned")
            .Directory("dev/")
            .CharDevice("dev/null", 1, 3)
            .BlockDevice("dev/sda", 8, 0)
            .Add(new TarEntrySpec { Name = "dev/big-minor", Kind = TarEntryKind.CharDevice, DevMajor = 300, DevMinor = 70000, Mode = 0x180 })
            .Fifo("dev/fifo")
            .Whiteout("etc/removed")
            .OpaqueWhiteout("usr/lib")
            .Add(new TarEntrySpec { Name = longDir + "/pax-long-name-" + new string('p', 120) + ".txt", Kind = TarEntryKind.Regular, Content = "pax\n"u8.ToArray() })
            .Add(new TarEntrySpec { Name = longDir + "/gnu-long-name-" + new string('g', 120) + ".txt", Kind = TarEntryKind.Regular, Content = "gnu\n"u8.ToArray(), LongNames = LongNameFormat.Gnu })
            .Add(new TarEntrySpec { Name = "deep/long-symlink", Kind = TarEntryKind.Symlink, LinkName = longDir + "/x/" + new string('t', 150), Mode = 0x1ff })
            .File("Ünïcødé name.txt", Encoding.UTF8.GetBytes("ünïcødé\n"));
    }

    public static async Task<EstargzFile> BuildAsync(byte[] tar, string path, EstargzBuildOptions? options = null)
    {
        EstargzBuildResult result;
        await using (var output = File.Create(path))
        {
            result = await EstargzBuilder.BuildAsync(new MemoryStream(tar), output, options ?? new EstargzBuildOptions { ChunkSize = 256 * 1024, CompressionLevel = 1 });
        }
        using var blob = new FileBlob(path, result.BlobDigest);
        var reader = await EstargzReader.OpenAsync(blob, result.TocDigest);
        return new EstargzFile(path, result.TocDigest, result.BlobDigest, result.Toc, reader.TocOffset);
    }

    /// <summary>
    /// Keeps the payload of <paramref name="original"/> and writes a new TOC member holding
    /// <paramref name="tocJson"/> (any bytes) and a footer after it, to <paramref name="path"/>.
    /// </summary>
    public static EstargzFile WithToc(EstargzFile original, byte[] tocJson, string path)
    {
        var payload = File.ReadAllBytes(original.Path).AsSpan(0, (int)original.TocOffset);
        var member = Gzip(new TarBuilder().File("stargz.index.json", tocJson).Build());
        var footer = new byte[51];
        // 10-byte gzip header with FEXTRA, XLEN 26, subfield 'S','G', LEN 22, "%016xSTARGZ", empty stored block, zero trailer.
        new byte[] { 0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 26, 0, (byte)'S', (byte)'G', 22, 0 }.CopyTo(footer, 0);
        Encoding.ASCII.GetBytes(original.TocOffset.ToString("x16", System.Globalization.CultureInfo.InvariantCulture) + "STARGZ").CopyTo(footer, 16);
        new byte[] { 0x01, 0x00, 0x00, 0xff, 0xff }.CopyTo(footer, 38);
        BinaryPrimitives.WriteUInt64LittleEndian(footer.AsSpan(43), 0);
        using (var output = File.Create(path))
        {
            output.Write(payload);
            output.Write(member);
            output.Write(footer);
        }
        var blob = File.ReadAllBytes(path);
        return original with { Path = path, TocDigest = Digest.Compute(tocJson), BlobDigest = Digest.Compute(blob), Toc = Toc.Parse(tocJson) };
    }

    /// <summary>Rewrites the TOC of <paramref name="original"/> after <paramref name="edit"/> changes a copy of it.</summary>
    public static EstargzFile EditToc(EstargzFile original, Action<Toc> edit, string path)
    {
        var toc = Toc.Parse(original.Toc.ToJson());
        edit(toc);
        return WithToc(original, toc.ToJson(), path);
    }

    public static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    /// <summary>`tar -x` as root, keeping owners, modes, times, devices and every xattr namespace.</summary>
    /// <remarks>
    /// GNU tar sets a directory's mtime when it leaves the directory, so entries that come back to
    /// it later (hardlinks, whiteouts appended at the end) leave it at "now"; the directories'
    /// recorded mtimes are put back afterwards, as a tar that restores them at the very end would.
    /// </remarks>
    public static async Task ExtractAsync(TarBuilder layer, string directory)
    {
        var tar = layer.Build();
        Directory.CreateDirectory(directory);
        var file = directory + ".tar";
        await File.WriteAllBytesAsync(file, tar);
        (await ProcessRunner.RunAsync("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner", "-xpf", file, "-C", directory], TimeSpan.FromMinutes(2))).EnsureSuccess();
        File.Delete(file);
        foreach (var entry in layer.Entries.Where(e => e.Kind == TarEntryKind.Directory).OrderByDescending(e => e.Name.Length))
        {
            var path = System.IO.Path.Combine(directory, entry.Name.TrimEnd('/'));
            Directory.SetLastWriteTimeUtc(path, entry.ModTime.UtcDateTime);
        }
    }
}
