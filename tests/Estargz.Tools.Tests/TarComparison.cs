using System.Formats.Tar;
using System.Text;
using Snapshotter.Estargz;

namespace Estargz.Tools.Tests;

/// <summary>Checks that an eStargz reader serves exactly the entries, metadata and bytes of a source tar.</summary>
internal static class TarComparison
{
    public static async Task AssertReaderMatchesTarAsync(byte[] tar, EstargzReader reader)
    {
        var checkedEntries = 0;
        foreach (var source in ReadTar(tar))
        {
            var name = Normalize(source.Name);
            if (name.Length == 0)
            {
                continue;
            }
            Assert.True(reader.TryGetEntry(name, out var entry), $"the TOC has no entry '{name}'");
            var what = $"entry '{name}'";
            Assert.Equal((TypeOf(source.EntryType), what), (entry.Type, what));
            Assert.Equal(((long)source.Mode, what), (entry.Mode & 0xfff, what));
            Assert.Equal(((long)source.Uid, what), (entry.Uid, what));
            Assert.Equal(((long)source.Gid, what), (entry.Gid, what));
            Assert.Equal((source.ModificationTime.ToUnixTimeSeconds(), what), (entry.ModificationTime?.ToUnixTimeSeconds() ?? 0, what));
            if (source.EntryType is TarEntryType.SymbolicLink)
            {
                Assert.Equal((source.LinkName, what), (entry.LinkName, what));
            }
            if (source.EntryType is TarEntryType.HardLink)
            {
                Assert.Equal((Normalize(source.LinkName), what), (Normalize(entry.LinkName ?? ""), what));
            }
            if (source.EntryType is TarEntryType.CharacterDevice or TarEntryType.BlockDevice && source is PosixTarEntry device)
            {
                Assert.Equal((device.DeviceMajor, device.DeviceMinor, what), (entry.DevMajor, entry.DevMinor, what));
            }
            if (source is PaxTarEntry pax)
            {
                foreach (var (key, value) in pax.ExtendedAttributes.Where(a => a.Key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal)))
                {
                    var xattr = key["SCHILY.xattr.".Length..];
                    Assert.True(entry.Xattrs?.ContainsKey(xattr) == true, $"{what} lost xattr {xattr}");
                    Assert.Equal(Encoding.UTF8.GetBytes(value), entry.Xattrs![xattr]);
                }
            }
            if (source.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                var expected = new byte[source.Length];
                if (source.DataStream is { } data)
                {
                    data.ReadExactly(expected);
                }
                Assert.Equal((source.Length, what), (entry.Size, what));
                var actual = await reader.ReadAllBytesAsync(name);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{what}: content differs");
            }
            checkedEntries++;
        }
        Assert.True(checkedEntries > 0, "the source tar had no entries");
    }

    /// <summary>Entries of a tar; like Go's reader, a stream that ends right after the last entry's data (as umoci writes it) is complete.</summary>
    private static List<TarEntry> ReadTar(byte[] tar)
    {
        var entries = new List<TarEntry>();
        using var reader = new TarReader(new MemoryStream(tar), leaveOpen: false);
        try
        {
            while (reader.GetNextEntry(copyData: true) is { } entry)
            {
                entries.Add(entry);
            }
        }
        catch (EndOfStreamException) when (entries.Count > 0)
        {
        }
        return entries;
    }

    private static string Normalize(string name)
    {
        while (name.StartsWith("./", StringComparison.Ordinal))
        {
            name = name[2..];
        }
        name = name.Trim('/');
        return name == "." ? "" : name;
    }

    private static string TypeOf(TarEntryType type) => type switch
    {
        TarEntryType.Directory => TocEntryTypes.Directory,
        TarEntryType.RegularFile or TarEntryType.V7RegularFile => TocEntryTypes.Regular,
        TarEntryType.SymbolicLink => TocEntryTypes.Symlink,
        TarEntryType.HardLink => TocEntryTypes.Hardlink,
        TarEntryType.CharacterDevice => TocEntryTypes.CharDevice,
        TarEntryType.BlockDevice => TocEntryTypes.BlockDevice,
        TarEntryType.Fifo => TocEntryTypes.Fifo,
        _ => type.ToString(),
    };
}
