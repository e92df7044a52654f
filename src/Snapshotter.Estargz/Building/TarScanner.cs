using System.Globalization;
using System.Text;

namespace Snapshotter.Estargz;

/// <summary>
/// Walks the spooled input tar and lists its entries. It understands ustar, PAX ('x') and GNU
/// long names ('L', 'K'); a PAX global header ('g') is kept verbatim with the entry that
/// follows it. Entry types eStargz cannot describe (sparse files, multi-volume parts) are refused.
/// </summary>
internal static class TarScanner
{
    private const string XattrPrefix = "SCHILY.xattr.";

    /// <summary>PAX and GNU long-name data larger than this is not a real name or attribute set.</summary>
    private const long MaxExtendedHeaderSize = 16 * 1024 * 1024;

    /// <summary>All entries of a spooled tar, checking that each entry's data lies within it.</summary>
    public static List<TarItem> Scan(TarSpool spool)
    {
        var items = new List<TarItem>();
        foreach (var item in Enumerate(spool))
        {
            if (item.DataOffset + item.Size > spool.Length)
            {
                throw new EstargzFormatException($"input tar entry '{EntryNames.Printable(item.Name)}' is truncated");
            }
            items.Add(item);
        }
        return items;
    }

    /// <summary>
    /// Entries in order. Positions only ever increase, so a forward-only source works: between two
    /// items the caller may read the current item's data; the scanner then continues after its padding.
    /// </summary>
    public static IEnumerable<TarItem> Enumerate(TarSource source)
    {
        var block = new byte[TarHeader.BlockSize];
        long position = 0;
        var pending = new PendingHeaders();
        long groupStart = 0;
        while (true)
        {
            var read = source.ReadAtMost(position, block);
            if (read == 0 && pending.IsEmpty)
            {
                yield break; // a tar without end-of-archive blocks; GNU tar accepts it, and so do we
            }
            if (read < TarHeader.BlockSize)
            {
                throw new EstargzFormatException($"tar stream is truncated at {position}");
            }
            if (TarHeader.IsZeroBlock(block))
            {
                if (!pending.IsEmpty)
                {
                    throw new EstargzFormatException($"tar stream ends right after an extended header at {position}");
                }
                yield break;
            }
            if (!TarHeader.ChecksumMatches(block))
            {
                throw new EstargzFormatException($"not a tar stream (bad header checksum at {position})");
            }
            if (pending.IsEmpty)
            {
                groupStart = position;
            }
            var type = (char)block[TarHeader.TypeFlagOffset];
            if (!TarHeader.TryParseNumber(block.AsSpan(TarHeader.SizeOffset, TarHeader.SizeLength), out var headerSize))
            {
                throw new EstargzFormatException($"tar header has a malformed size at {position}");
            }
            var dataOffset = position + TarHeader.BlockSize;
            if (type is 'x' or 'g' or 'L' or 'K')
            {
                if (headerSize > MaxExtendedHeaderSize)
                {
                    throw new EstargzFormatException($"tar stream has an oversized extended header at {position}");
                }
                var data = new byte[headerSize];
                if (source.ReadAtMost(dataOffset, data) < data.Length)
                {
                    throw new EstargzFormatException($"tar stream is truncated in an extended header at {position}");
                }
                if (type == 'x')
                {
                    ParsePaxRecords(data, pending.Records, position);
                }
                else if (type == 'L')
                {
                    pending.LongName = Encoding.UTF8.GetString(data).TrimEnd('\0');
                }
                else if (type == 'K')
                {
                    pending.LongLink = Encoding.UTF8.GetString(data).TrimEnd('\0');
                }
                pending.Count++;
                position = dataOffset + TarHeader.PaddedSize(headerSize);
                continue;
            }
            var item = MakeItem(block, type, headerSize, pending, groupStart, dataOffset, position);
            pending = new PendingHeaders();
            position = dataOffset + item.PaddedDataLength;
            yield return item;
        }
    }

    private static TarItem MakeItem(byte[] block, char flag, long headerSize, PendingHeaders pending, long groupStart, long dataOffset, long position)
    {
        var records = pending.Records;
        var name = records.TryGetValue("path", out var path) ? Encoding.UTF8.GetString(path) : pending.LongName ?? TarHeader.ReadName(block);
        var type = flag switch
        {
            '0' or '\0' or '7' => TocEntryTypes.Regular,
            '1' => TocEntryTypes.Hardlink,
            '2' => TocEntryTypes.Symlink,
            '3' => TocEntryTypes.CharDevice,
            '4' => TocEntryTypes.BlockDevice,
            '5' => TocEntryTypes.Directory,
            '6' => TocEntryTypes.Fifo,
            _ => throw new EstargzFormatException($"input tar entry '{EntryNames.Printable(name)}' has type '{flag}', which eStargz cannot represent"),
        };
        // Only regular files carry data; for the other types the size field is ignored, as Go's archive/tar does.
        var size = type == TocEntryTypes.Regular
            ? records.TryGetValue("size", out var paxSize) ? ParseDecimal(paxSize, "size", position) : headerSize
            : 0;
        var linkName = records.TryGetValue("linkpath", out var linkPath)
            ? Encoding.UTF8.GetString(linkPath)
            : pending.LongLink ?? TarHeader.ReadString(block.AsSpan(TarHeader.LinkNameOffset, TarHeader.LinkNameLength));
        SortedDictionary<string, byte[]>? xattrs = null;
        foreach (var (key, value) in records)
        {
            if (key.StartsWith(XattrPrefix, StringComparison.Ordinal))
            {
                xattrs ??= new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
                xattrs[key[XattrPrefix.Length..]] = value;
            }
        }
        return new TarItem
        {
            HeaderOffset = groupStart,
            HeaderLength = checked((int)(dataOffset - groupStart)),
            DataOffset = dataOffset,
            Name = name,
            CanonicalName = EntryNames.Normalize(name, "input tar entry"),
            Type = type,
            Size = size,
            LinkName = type is TocEntryTypes.Hardlink or TocEntryTypes.Symlink ? linkName : null,
            Mode = Number(block, TarHeader.ModeOffset, TarHeader.IdLength, position),
            Uid = records.TryGetValue("uid", out var uid) ? ParseDecimal(uid, "uid", position) : Number(block, TarHeader.UidOffset, TarHeader.IdLength, position),
            Gid = records.TryGetValue("gid", out var gid) ? ParseDecimal(gid, "gid", position) : Number(block, TarHeader.GidOffset, TarHeader.IdLength, position),
            UserName = records.TryGetValue("uname", out var uname) ? Encoding.UTF8.GetString(uname) : TarHeader.ReadString(block.AsSpan(TarHeader.UserNameOffset, TarHeader.OwnerNameLength)),
            GroupName = records.TryGetValue("gname", out var gname) ? Encoding.UTF8.GetString(gname) : TarHeader.ReadString(block.AsSpan(TarHeader.GroupNameOffset, TarHeader.OwnerNameLength)),
            ModTime = records.TryGetValue("mtime", out var mtime)
                ? ParsePaxTime(mtime, position)
                : DateTimeOffset.FromUnixTimeSeconds(Number(block, TarHeader.MTimeOffset, TarHeader.MTimeLength, position)),
            DevMajor = type is TocEntryTypes.CharDevice or TocEntryTypes.BlockDevice ? (int)Number(block, TarHeader.DevMajorOffset, TarHeader.DevLength, position) : 0,
            DevMinor = type is TocEntryTypes.CharDevice or TocEntryTypes.BlockDevice ? (int)Number(block, TarHeader.DevMinorOffset, TarHeader.DevLength, position) : 0,
            Xattrs = xattrs,
        };
    }

    /// <summary>PAX records: <c>"&lt;length&gt; &lt;key&gt;=&lt;value&gt;\n"</c>, the length counting the whole record. Values stay bytes (xattrs may be binary).</summary>
    private static void ParsePaxRecords(ReadOnlySpan<byte> data, Dictionary<string, byte[]> records, long position)
    {
        while (!data.IsEmpty)
        {
            var space = data.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(data[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var length) ||
                length <= space + 1 || length > data.Length || data[length - 1] != '\n')
            {
                throw new EstargzFormatException($"input tar has a malformed PAX record at {position}");
            }
            var record = data[(space + 1)..(length - 1)];
            var equals = record.IndexOf((byte)'=');
            if (equals <= 0)
            {
                throw new EstargzFormatException($"input tar has a PAX record without a key at {position}");
            }
            records[Encoding.UTF8.GetString(record[..equals])] = record[(equals + 1)..].ToArray();
            data = data[length..];
        }
    }

    private static long ParseDecimal(byte[] value, string key, long position) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw new EstargzFormatException($"input tar has a malformed PAX {key} at {position}");

    /// <summary>PAX times are decimal seconds with an optional fraction, e.g. <c>1700000000.123456789</c>.</summary>
    private static DateTimeOffset ParsePaxTime(byte[] value, long position)
    {
        var text = Encoding.ASCII.GetString(value);
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var secondsText = dot < 0 ? text : text[..dot];
        if (!long.TryParse(secondsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds) ||
            seconds is < -62135596800 or > 253402300799)
        {
            throw new EstargzFormatException($"input tar has a malformed PAX mtime at {position}");
        }
        long ticks = 0;
        if (dot >= 0)
        {
            var fraction = text[(dot + 1)..].PadRight(7, '0')[..7];
            if (!long.TryParse(fraction, NumberStyles.None, CultureInfo.InvariantCulture, out ticks))
            {
                throw new EstargzFormatException($"input tar has a malformed PAX mtime at {position}");
            }
            if (text.StartsWith('-'))
            {
                ticks = -ticks;
            }
        }
        return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(ticks);
    }

    private static long Number(byte[] block, int offset, int length, long position) =>
        TarHeader.TryParseNumber(block.AsSpan(offset, length), out var value)
            ? value
            : throw new EstargzFormatException($"input tar has a malformed numeric field at {position + offset}");

    private sealed class PendingHeaders
    {
        public Dictionary<string, byte[]> Records { get; } = new(StringComparer.Ordinal);
        public string? LongName { get; set; }
        public string? LongLink { get; set; }
        public int Count { get; set; }
        public bool IsEmpty => Count == 0;
    }
}
