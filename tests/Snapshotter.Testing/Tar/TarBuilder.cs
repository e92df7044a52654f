using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Snapshotter.Testing.Tar;

/// <summary>How a name or link target longer than the 100-byte ustar field is stored.</summary>
public enum LongNameFormat
{
    /// <summary>A PAX extended header ('x') with <c>path</c>/<c>linkpath</c> records.</summary>
    Pax,

    /// <summary>GNU <c>././@LongLink</c> entries ('L' for names, 'K' for link targets).</summary>
    Gnu,
}

/// <summary>The kinds of tar entries <see cref="TarBuilder"/> writes, with their ustar type flags.</summary>
public enum TarEntryKind
{
    Regular = '0',
    Hardlink = '1',
    Symlink = '2',
    CharDevice = '3',
    BlockDevice = '4',
    Directory = '5',
    Fifo = '6',
}

/// <summary>One entry as written by <see cref="TarBuilder"/>, so tests can compare what they read back.</summary>
public sealed record TarEntrySpec
{
    public required string Name { get; init; }
    public required TarEntryKind Kind { get; init; }
    public byte[] Content { get; init; } = [];
    public string? LinkName { get; init; }
    public long Mode { get; init; } = Convert.ToInt32("644", 8);
    public int Uid { get; init; }
    public int Gid { get; init; }
    public string UserName { get; init; } = "";
    public string GroupName { get; init; } = "";
    public DateTimeOffset ModTime { get; init; } = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
    public int DevMajor { get; init; }
    public int DevMinor { get; init; }

    /// <summary>Extended attributes, written as PAX <c>SCHILY.xattr.&lt;name&gt;</c> records.</summary>
    public IReadOnlyDictionary<string, string> Xattrs { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra PAX records written verbatim (e.g. <c>mtime</c> with a fraction, <c>comment</c>).</summary>
    public IReadOnlyDictionary<string, string> PaxRecords { get; init; } = new Dictionary<string, string>();

    public LongNameFormat LongNames { get; init; } = LongNameFormat.Pax;
}

/// <summary>
/// Builds tar layers in code, byte by byte (no tar library in between), with every entry type,
/// PAX records and xattrs, and long names in PAX or GNU form. Fixture for every project that
/// needs a layer: <c>new TarBuilder().Directory("bin/").File("bin/sh", bytes).Build()</c>.
/// </summary>
public sealed class TarBuilder
{
    private const int Block = 512;
    private const int NameField = 100;
    private readonly List<TarEntrySpec> _entries = [];

    public IReadOnlyList<TarEntrySpec> Entries => _entries;

    public TarBuilder Add(TarEntrySpec entry)
    {
        _entries.Add(entry);
        return this;
    }

    public TarBuilder Directory(string name, long mode = 0x1ed, int uid = 0, int gid = 0) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.Directory, Mode = mode, Uid = uid, Gid = gid });

    public TarBuilder File(string name, byte[] content, long mode = 0x1a4, IReadOnlyDictionary<string, string>? xattrs = null) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.Regular, Content = content, Mode = mode, Xattrs = xattrs ?? new Dictionary<string, string>() });

    public TarBuilder File(string name, string content) => File(name, Encoding.UTF8.GetBytes(content));

    public TarBuilder Symlink(string name, string target) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.Symlink, LinkName = target, Mode = 0x1ff });

    public TarBuilder Hardlink(string name, string target) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.Hardlink, LinkName = target });

    public TarBuilder CharDevice(string name, int major, int minor) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.CharDevice, DevMajor = major, DevMinor = minor, Mode = 0x1b6 });

    public TarBuilder BlockDevice(string name, int major, int minor) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.BlockDevice, DevMajor = major, DevMinor = minor, Mode = 0x1b0 });

    public TarBuilder Fifo(string name) =>
        Add(new TarEntrySpec { Name = name, Kind = TarEntryKind.Fifo, Mode = 0x1a4 });

    /// <summary>An overlay whiteout for <paramref name="path"/>: an empty file <c>dir/.wh.name</c>.</summary>
    public TarBuilder Whiteout(string path)
    {
        var slash = path.LastIndexOf('/');
        var name = slash < 0 ? ".wh." + path : path[..(slash + 1)] + ".wh." + path[(slash + 1)..];
        return File(name, []);
    }

    /// <summary>The opaque-directory marker <c>dir/.wh..wh..opq</c>.</summary>
    public TarBuilder OpaqueWhiteout(string directory) => File(directory.TrimEnd('/') + "/.wh..wh..opq", []);

    /// <summary>The uncompressed tar stream, ending with the two zero blocks.</summary>
    public byte[] Build()
    {
        using var output = new MemoryStream();
        foreach (var entry in _entries)
        {
            WriteEntry(output, entry);
        }
        output.Write(new byte[Block * 2]);
        return output.ToArray();
    }

    /// <summary>The tar stream gzip-compressed, as a registry layer usually is.</summary>
    public byte[] BuildGzip()
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(Build());
        }
        return output.ToArray();
    }

    private static void WriteEntry(Stream output, TarEntrySpec entry)
    {
        var nameBytes = Encoding.UTF8.GetBytes(entry.Name);
        var linkBytes = Encoding.UTF8.GetBytes(entry.LinkName ?? "");
        var pax = new List<KeyValuePair<string, string>>();
        if (entry.LongNames == LongNameFormat.Gnu)
        {
            if (nameBytes.Length > NameField)
            {
                WriteGnuLongLink(output, 'L', nameBytes);
            }
            if (linkBytes.Length > NameField)
            {
                WriteGnuLongLink(output, 'K', linkBytes);
            }
        }
        else
        {
            if (nameBytes.Length > NameField)
            {
                pax.Add(new("path", entry.Name));
            }
            if (linkBytes.Length > NameField)
            {
                pax.Add(new("linkpath", entry.LinkName!));
            }
        }
        pax.AddRange(entry.PaxRecords.OrderBy(p => p.Key, StringComparer.Ordinal));
        pax.AddRange(entry.Xattrs.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new KeyValuePair<string, string>("SCHILY.xattr." + p.Key, p.Value)));
        if (pax.Count > 0)
        {
            var records = EncodePaxRecords(pax);
            var paxHeader = NewHeader("PaxHeaders/" + Truncate(entry.Name, 80), 0x1a4, records.Length, '0', 0, 0, "", "", 0);
            paxHeader[156] = (byte)'x';
            WriteHeaderAndData(output, paxHeader, records);
        }
        var size = entry.Kind == TarEntryKind.Regular ? entry.Content.Length : 0;
        var header = NewHeader(Truncate(entry.Name, NameField), entry.Mode, size, (char)entry.Kind, entry.Uid, entry.Gid,
            entry.UserName, entry.GroupName, entry.ModTime.ToUnixTimeSeconds());
        WriteField(header, 157, 100, Truncate(entry.LinkName ?? "", NameField));
        WriteOctal(header, 329, 8, entry.DevMajor);
        WriteOctal(header, 337, 8, entry.DevMinor);
        WriteHeaderAndData(output, header, entry.Kind == TarEntryKind.Regular ? entry.Content : []);
    }

    private static void WriteGnuLongLink(Stream output, char type, byte[] longName)
    {
        var data = new byte[longName.Length + 1]; // GNU tar NUL-terminates the long name
        longName.CopyTo(data, 0);
        var header = NewHeader("././@LongLink", 0x1a4, data.Length, type, 0, 0, "", "", 0);
        WriteHeaderAndData(output, header, data);
    }

    private static byte[] NewHeader(string name, long mode, long size, char type, int uid, int gid, string uname, string gname, long mtime)
    {
        var h = new byte[Block];
        WriteField(h, 0, 100, name);
        WriteOctal(h, 100, 8, mode);
        WriteOctal(h, 108, 8, uid);
        WriteOctal(h, 116, 8, gid);
        WriteOctal(h, 124, 12, size);
        WriteOctal(h, 136, 12, mtime);
        h[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0").CopyTo(h, 257);
        Encoding.ASCII.GetBytes("00").CopyTo(h, 263);
        WriteField(h, 265, 32, uname);
        WriteField(h, 297, 32, gname);
        return h;
    }

    private static void WriteHeaderAndData(Stream output, byte[] header, byte[] data)
    {
        // The checksum is computed with its own field as spaces, then stored as 6 octal digits, NUL, space.
        Array.Fill(header, (byte)' ', 148, 8);
        var sum = header.Sum(b => (long)b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        output.Write(header);
        output.Write(data);
        var padding = (Block - (data.Length % Block)) % Block;
        output.Write(new byte[padding]);
    }

    private static byte[] EncodePaxRecords(IEnumerable<KeyValuePair<string, string>> records)
    {
        var result = new MemoryStream();
        foreach (var (key, value) in records)
        {
            // "<len> <key>=<value>\n" where <len> counts its own digits too.
            var body = Encoding.UTF8.GetByteCount($" {key}={value}\n");
            var length = body + 1;
            while (length.ToString(CultureInfo.InvariantCulture).Length + body > length)
            {
                length++;
            }
            result.Write(Encoding.UTF8.GetBytes($"{length} {key}={value}\n"));
        }
        return result.ToArray();
    }

    private static void WriteField(byte[] header, int offset, int length, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        bytes.AsSpan(0, Math.Min(bytes.Length, length)).CopyTo(header.AsSpan(offset, length));
    }

    private static void WriteOctal(byte[] header, int offset, int length, long value) =>
        Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(length - 1, '0') + "\0").CopyTo(header, offset);

    private static string Truncate(string value, int maxBytes)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        return bytes.Length <= maxBytes ? value : Encoding.UTF8.GetString(bytes, 0, maxBytes);
    }
}
