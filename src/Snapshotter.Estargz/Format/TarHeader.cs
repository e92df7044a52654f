using System.Text;

namespace Snapshotter.Estargz;

/// <summary>
/// Field offsets of a 512-byte tar header block (POSIX ustar, with the GNU variants) and the
/// numeric/string codecs they need. Only what the eStargz format touches is here: the builder
/// copies original header blocks verbatim, so it never has to re-encode a header it read.
/// </summary>
internal static class TarHeader
{
    public const int BlockSize = 512;

    public const int NameOffset = 0;
    public const int NameLength = 100;
    public const int ModeOffset = 100;
    public const int UidOffset = 108;
    public const int GidOffset = 116;
    public const int IdLength = 8;
    public const int SizeOffset = 124;
    public const int SizeLength = 12;
    public const int MTimeOffset = 136;
    public const int MTimeLength = 12;
    public const int ChecksumOffset = 148;
    public const int ChecksumLength = 8;
    public const int TypeFlagOffset = 156;
    public const int LinkNameOffset = 157;
    public const int LinkNameLength = 100;
    public const int MagicOffset = 257;
    public const int VersionOffset = 263;
    public const int UserNameOffset = 265;
    public const int GroupNameOffset = 297;
    public const int OwnerNameLength = 32;
    public const int DevMajorOffset = 329;
    public const int DevMinorOffset = 337;
    public const int DevLength = 8;
    public const int PrefixOffset = 345;
    public const int PrefixLength = 155;

    public static ReadOnlySpan<byte> UstarMagic => "ustar\0"u8;
    public static ReadOnlySpan<byte> UstarVersion => "00"u8;
    public static ReadOnlySpan<byte> GnuMagicAndVersion => "ustar  \0"u8;

    public static bool IsZeroBlock(ReadOnlySpan<byte> block) => !block[..BlockSize].ContainsAnyExcept((byte)0);

    public static long PaddedSize(long size) => (size + BlockSize - 1) / BlockSize * BlockSize;

    /// <summary>True when the stored checksum matches, computed either unsigned (POSIX) or signed (old Sun tar).</summary>
    public static bool ChecksumMatches(ReadOnlySpan<byte> block)
    {
        if (!TryParseNumber(block.Slice(ChecksumOffset, ChecksumLength), out var stored))
        {
            return false;
        }
        long unsignedSum = 0;
        long signedSum = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            var b = i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength ? (byte)' ' : block[i];
            unsignedSum += b;
            signedSum += (sbyte)b;
        }
        return stored == unsignedSum || stored == signedSum;
    }

    /// <summary>Parses an octal field (spaces/NULs around it allowed) or a GNU base-256 field.</summary>
    public static bool TryParseNumber(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            // Base-256: big-endian two's complement with the top bit of the first byte as marker.
            if (field[0] == 0xff)
            {
                return false; // negative values are never valid for sizes, ids or times we accept
            }
            var first = field[0] & 0x7f;
            ulong result = (ulong)first;
            foreach (var b in field[1..])
            {
                if (result > (ulong.MaxValue >> 8))
                {
                    return false;
                }
                result = (result << 8) | b;
            }
            if (result > long.MaxValue)
            {
                return false;
            }
            value = (long)result;
            return true;
        }
        var trimmed = field.Trim((byte)' ').TrimEnd((byte)0).Trim((byte)' ');
        if (trimmed.IsEmpty)
        {
            return true;
        }
        long octal = 0;
        foreach (var b in trimmed)
        {
            if (b is < (byte)'0' or > (byte)'7' || octal > (long.MaxValue >> 3))
            {
                return false;
            }
            octal = (octal << 3) | (long)(b - '0');
        }
        value = octal;
        return true;
    }

    /// <summary>A NUL-terminated string field, decoded as UTF-8 (tar names are bytes; Go treats them as UTF-8 too).</summary>
    public static string ReadString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    /// <summary>The entry name: the ustar prefix joined with the name, except in GNU headers where that area holds times.</summary>
    public static string ReadName(ReadOnlySpan<byte> block)
    {
        var name = ReadString(block.Slice(NameOffset, NameLength));
        if (block.Slice(MagicOffset, 6).SequenceEqual(UstarMagic))
        {
            var prefix = ReadString(block.Slice(PrefixOffset, PrefixLength));
            if (prefix.Length > 0)
            {
                return prefix + "/" + name;
            }
        }
        return name;
    }

    /// <summary>
    /// Writes a minimal ustar header for a regular file with zero times and ids, as Go's
    /// archive/tar does for the TOC entry and landmark files. <paramref name="name"/> must be short ASCII.
    /// </summary>
    public static void WriteRegularFileHeader(Span<byte> block, string name, long mode, long size)
    {
        block = block[..BlockSize];
        block.Clear();
        Encoding.ASCII.GetBytes(name, block.Slice(NameOffset, NameLength));
        WriteOctal(block.Slice(ModeOffset, IdLength), mode);
        WriteOctal(block.Slice(UidOffset, IdLength), 0);
        WriteOctal(block.Slice(GidOffset, IdLength), 0);
        WriteOctal(block.Slice(SizeOffset, SizeLength), size);
        WriteOctal(block.Slice(MTimeOffset, MTimeLength), 0);
        block[TypeFlagOffset] = (byte)'0';
        UstarMagic.CopyTo(block[MagicOffset..]);
        UstarVersion.CopyTo(block[VersionOffset..]);
        WriteOctal(block.Slice(DevMajorOffset, DevLength), 0);
        WriteOctal(block.Slice(DevMinorOffset, DevLength), 0);
        long sum = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            sum += i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength ? (byte)' ' : block[i];
        }
        // Checksum field: six octal digits, NUL, space (the traditional layout Go also writes).
        var checksum = block.Slice(ChecksumOffset, ChecksumLength);
        WriteOctal(checksum[..7], sum);
        checksum[7] = (byte)' ';
    }

    /// <summary>Zero-padded octal digits followed by a NUL, filling the field.</summary>
    private static void WriteOctal(Span<byte> field, long value)
    {
        var digits = field.Length - 1;
        for (var i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        if (value != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "value does not fit the octal tar field");
        }
        field[digits] = 0;
    }
}
