using System.Buffers.Binary;

namespace Snapshotter.Estargz;

/// <summary>
/// The zstd:chunked framing of the TOC and footer, as stargz's <c>zstdchunked</c> package writes
/// them: the zstd-compressed TOC JSON in a skippable frame, then a skippable frame holding the
/// 40-byte footer (LE u64 offset of the compressed TOC, its compressed and uncompressed sizes, the
/// manifest type 1 = CRFS, and the magic <c>GnUlInUx</c>). Both frames decompress to nothing, so
/// the tar stream of the layer holds neither the TOC nor the footer.
/// </summary>
internal static class ZstdChunkedFooter
{
    /// <summary>The footer on disk: its skippable-frame header and the 40 bytes.</summary>
    public const int Size = SkippableFrameHeaderSize + ContentSize;

    /// <summary>The footer proper, the content of its skippable frame.</summary>
    public const int ContentSize = 40;

    /// <summary>A skippable frame header: the magic and a LE u32 content size.</summary>
    public const int SkippableFrameHeaderSize = 8;

    /// <summary>The TOC is the same JSON as eStargz's (containers/storage calls this manifest type CRFS).</summary>
    public const long ManifestTypeCrfs = 1;

    /// <summary>The skippable-frame magic stargz writes (zstd reserves 0x184D2A50–0x184D2A5F).</summary>
    private const uint SkippableFrameMagic = 0x184D2A50;

    private const int MagicOffset = 0;
    private const int FrameSizeOffset = 4;

    // Fields of the footer content.
    private const int TocOffsetOffset = 0;
    private const int CompressedSizeOffset = 8;
    private const int UncompressedSizeOffset = 16;
    private const int ManifestTypeOffset = 24;
    private const int ChunkedMagicOffset = 32;

    private static ReadOnlySpan<byte> ChunkedMagic => "GnUlInUx"u8;

    /// <summary>Writes the 48-byte footer for a compressed TOC at <paramref name="tocDataOffset"/> (past its frame header).</summary>
    public static void Write(Span<byte> destination, long tocDataOffset, long compressedTocSize, long uncompressedTocSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tocDataOffset);
        var footer = destination[..Size];
        WriteSkippableFrameHeader(footer, ContentSize);
        var content = footer[SkippableFrameHeaderSize..];
        BinaryPrimitives.WriteUInt64LittleEndian(content[TocOffsetOffset..], (ulong)tocDataOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(content[CompressedSizeOffset..], (ulong)compressedTocSize);
        BinaryPrimitives.WriteUInt64LittleEndian(content[UncompressedSizeOffset..], (ulong)uncompressedTocSize);
        BinaryPrimitives.WriteUInt64LittleEndian(content[ManifestTypeOffset..], ManifestTypeCrfs);
        ChunkedMagic.CopyTo(content[ChunkedMagicOffset..]);
    }

    /// <summary>
    /// Parses the 48-byte footer. <paramref name="tocFrameOffset"/> is where the TOC's skippable
    /// frame starts (its header precedes the compressed TOC the footer points at): all payload lies before it.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> footer, out long tocFrameOffset, out long compressedTocSize)
    {
        tocFrameOffset = 0;
        compressedTocSize = 0;
        if (footer.Length != Size || !IsSkippableFrameHeader(footer, out var frameSize) || frameSize != ContentSize)
        {
            return false;
        }
        var content = footer[SkippableFrameHeaderSize..];
        if (!content[ChunkedMagicOffset..].SequenceEqual(ChunkedMagic) ||
            BinaryPrimitives.ReadUInt64LittleEndian(content[ManifestTypeOffset..]) != ManifestTypeCrfs)
        {
            return false;
        }
        var dataOffset = BinaryPrimitives.ReadUInt64LittleEndian(content[TocOffsetOffset..]);
        var compressed = BinaryPrimitives.ReadUInt64LittleEndian(content[CompressedSizeOffset..]);
        if (dataOffset < SkippableFrameHeaderSize || dataOffset > long.MaxValue || compressed > int.MaxValue)
        {
            return false;
        }
        tocFrameOffset = (long)dataOffset - SkippableFrameHeaderSize;
        compressedTocSize = (long)compressed;
        return true;
    }

    public static void WriteSkippableFrameHeader(Span<byte> destination, int contentSize)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination[MagicOffset..], SkippableFrameMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[FrameSizeOffset..], (uint)contentSize);
    }

    public static bool IsSkippableFrameHeader(ReadOnlySpan<byte> header, out uint contentSize)
    {
        contentSize = 0;
        if (header.Length < SkippableFrameHeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(header[MagicOffset..]) != SkippableFrameMagic)
        {
            return false;
        }
        contentSize = BinaryPrimitives.ReadUInt32LittleEndian(header[FrameSizeOffset..]);
        return true;
    }
}
