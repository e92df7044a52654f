using System.Buffers.Binary;
using System.Globalization;

namespace Snapshotter.Estargz;

/// <summary>
/// The eStargz footer: an empty gzip member whose FEXTRA field carries the TOC offset as
/// <c>%016xSTARGZ</c>. eStargz wraps it in an RFC 1952 subfield ('S','G', LEN 22), 51 bytes in
/// all; the legacy CRFS stargz footer stores the 22 bytes bare, 47 bytes in all.
/// </summary>
internal static class Footer
{
    public const int Size = 51;
    public const int LegacySize = 47;

    private const byte GzipId1 = 0x1f;
    private const byte GzipId2 = 0x8b;
    private const byte DeflateMethod = 8;
    private const byte FlagExtra = 0x04;
    private const byte OsUnknown = 0xff;

    // Gzip header fields (RFC 1952 section 2.3).
    private const int Id1Offset = 0;
    private const int Id2Offset = 1;
    private const int MethodOffset = 2;
    private const int FlagsOffset = 3;
    private const int MTimeOffset = 4;
    private const int ExtraFlagsOffset = 8;
    private const int OsOffset = 9;
    private const int ExtraLengthOffset = 10;
    private const int ExtraOffset = 12;

    // eStargz subfield inside the extra field.
    private const int SubfieldId1Offset = ExtraOffset;
    private const int SubfieldId2Offset = ExtraOffset + 1;
    private const int SubfieldLengthOffset = ExtraOffset + 2;
    private const int SubfieldDataOffset = ExtraOffset + 4;

    private const int PayloadLength = 22; // 16 hex digits + "STARGZ"
    private const int HexDigits = 16;
    private const string Magic = "STARGZ";
    private const int ExtraLength = 4 + PayloadLength; // 26

    /// <summary>An empty final stored deflate block: BFINAL=1 BTYPE=00, LEN 0, NLEN 0xffff.</summary>
    private static ReadOnlySpan<byte> EmptyStoredBlock => [0x01, 0x00, 0x00, 0xff, 0xff];
    private const int TrailerLength = 8; // CRC32 + ISIZE, both 0 for an empty member

    /// <summary>Writes the 51-byte eStargz footer for a TOC member at <paramref name="tocOffset"/>.</summary>
    public static void Write(Span<byte> destination, long tocOffset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tocOffset);
        var footer = destination[..Size];
        footer.Clear();
        WriteGzipHeader(footer, ExtraLength);
        footer[SubfieldId1Offset] = (byte)'S';
        footer[SubfieldId2Offset] = (byte)'G';
        BinaryPrimitives.WriteUInt16LittleEndian(footer[SubfieldLengthOffset..], PayloadLength);
        WritePayload(footer.Slice(SubfieldDataOffset, PayloadLength), tocOffset);
        EmptyStoredBlock.CopyTo(footer[(SubfieldDataOffset + PayloadLength)..]);
        // The trailer (CRC32 and ISIZE of no data) stays zero.
    }

    /// <summary>Writes the 47-byte legacy stargz footer; only tests need to produce one.</summary>
    public static void WriteLegacy(Span<byte> destination, long tocOffset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tocOffset);
        var footer = destination[..LegacySize];
        footer.Clear();
        WriteGzipHeader(footer, PayloadLength);
        WritePayload(footer.Slice(ExtraOffset, PayloadLength), tocOffset);
        EmptyStoredBlock.CopyTo(footer[(ExtraOffset + PayloadLength)..]);
    }

    /// <summary>Parses a 51-byte eStargz footer.</summary>
    public static bool TryParse(ReadOnlySpan<byte> footer, out long tocOffset)
    {
        tocOffset = 0;
        return footer.Length == Size &&
            IsEmptyMemberWithExtra(footer, ExtraLength) &&
            footer[SubfieldId1Offset] == 'S' && footer[SubfieldId2Offset] == 'G' &&
            BinaryPrimitives.ReadUInt16LittleEndian(footer[SubfieldLengthOffset..]) == PayloadLength &&
            TryParsePayload(footer.Slice(SubfieldDataOffset, PayloadLength), out tocOffset);
    }

    /// <summary>Parses a 47-byte legacy (CRFS) stargz footer.</summary>
    public static bool TryParseLegacy(ReadOnlySpan<byte> footer, out long tocOffset)
    {
        tocOffset = 0;
        return footer.Length == LegacySize &&
            IsEmptyMemberWithExtra(footer, PayloadLength) &&
            TryParsePayload(footer.Slice(ExtraOffset, PayloadLength), out tocOffset);
    }

    private static void WriteGzipHeader(Span<byte> footer, int extraLength)
    {
        footer[Id1Offset] = GzipId1;
        footer[Id2Offset] = GzipId2;
        footer[MethodOffset] = DeflateMethod;
        footer[FlagsOffset] = FlagExtra;
        BinaryPrimitives.WriteUInt32LittleEndian(footer[MTimeOffset..], 0);
        footer[ExtraFlagsOffset] = 0;
        footer[OsOffset] = OsUnknown;
        BinaryPrimitives.WriteUInt16LittleEndian(footer[ExtraLengthOffset..], (ushort)extraLength);
    }

    private static void WritePayload(Span<byte> payload, long tocOffset)
    {
        tocOffset.TryFormat(payload[..HexDigits], out _, "x16", CultureInfo.InvariantCulture);
        for (var i = 0; i < Magic.Length; i++)
        {
            payload[HexDigits + i] = (byte)Magic[i];
        }
    }

    private static bool IsEmptyMemberWithExtra(ReadOnlySpan<byte> footer, int extraLength)
    {
        // Only FEXTRA may be set: a name or comment field would move everything after it.
        if (footer[Id1Offset] != GzipId1 || footer[Id2Offset] != GzipId2 ||
            footer[MethodOffset] != DeflateMethod || footer[FlagsOffset] != FlagExtra ||
            BinaryPrimitives.ReadUInt16LittleEndian(footer[ExtraLengthOffset..]) != extraLength)
        {
            return false;
        }
        // An empty member decompresses to nothing, so its CRC32 and ISIZE are both zero.
        var trailer = footer[^TrailerLength..];
        return BinaryPrimitives.ReadUInt64LittleEndian(trailer) == 0;
    }

    private static bool TryParsePayload(ReadOnlySpan<byte> payload, out long tocOffset)
    {
        tocOffset = 0;
        if (!payload[HexDigits..].SequenceEqual("STARGZ"u8))
        {
            return false;
        }
        ulong value = 0;
        foreach (var b in payload[..HexDigits])
        {
            int digit = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }
            value = (value << 4) | (uint)digit;
        }
        if (value > long.MaxValue)
        {
            return false;
        }
        tocOffset = (long)value;
        return true;
    }
}
