using System.IO.Compression;
using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>How a layer blob is framed: which footer it ends with and how its members decompress.</summary>
public enum EstargzFormat
{
    /// <summary>eStargz: gzip members, 51-byte footer.</summary>
    Estargz,

    /// <summary>The original CRFS stargz: gzip members, 47-byte footer.</summary>
    LegacyStargz,

    /// <summary>zstd:chunked as stargz writes it: zstd frames, the TOC and a 40-byte footer in skippable frames.</summary>
    ZstdChunked,
}

/// <summary>
/// The framing of one format: the reader detects it from the blob's tail and only ever
/// decompresses through it, so formats differ here and nowhere else.
/// </summary>
internal abstract class LayerCompression
{
    /// <summary>Candidates in the order the footer is tried; one tail read of <see cref="MaxFooterSize"/> fits all.</summary>
    public static readonly IReadOnlyList<LayerCompression> Known = [GzipLayerCompression.Estargz, ZstdChunkedLayerCompression.Instance, GzipLayerCompression.Legacy];

    public static int MaxFooterSize => Known.Max(c => c.FooterSize);

    public abstract EstargzFormat Format { get; }

    public abstract int FooterSize { get; }

    /// <summary>
    /// Parses the footer; <paramref name="tocOffset"/> is where the TOC's region starts (it runs to
    /// the footer), and all payload lies before it.
    /// </summary>
    public abstract bool TryParseFooter(ReadOnlySpan<byte> footer, out long tocOffset);

    /// <summary>A stream of the uncompressed bytes of the member(s) that start at the beginning of <paramref name="compressed"/>.</summary>
    public abstract Stream OpenDecompressor(Stream compressed);

    /// <summary>The TOC JSON and its digest from the TOC region (from the TOC offset to the footer).</summary>
    /// <exception cref="EstargzFormatException">The region does not hold a well-formed TOC of at most <paramref name="maxTocSize"/> bytes.</exception>
    public abstract (byte[] Json, Digest Digest) ReadToc(ReadOnlyMemory<byte> region, int maxTocSize);

    /// <summary>Finds the framing whose footer ends <paramref name="tail"/> (the last bytes of the blob).</summary>
    public static LayerCompression? Detect(ReadOnlySpan<byte> tail, out long tocOffset)
    {
        foreach (var candidate in Known)
        {
            if (tail.Length >= candidate.FooterSize &&
                candidate.TryParseFooter(tail[^candidate.FooterSize..], out tocOffset))
            {
                return candidate;
            }
        }
        tocOffset = 0;
        return null;
    }
}

internal sealed class GzipLayerCompression : LayerCompression
{
    public static readonly GzipLayerCompression Estargz = new(EstargzFormat.Estargz);
    public static readonly GzipLayerCompression Legacy = new(EstargzFormat.LegacyStargz);

    private GzipLayerCompression(EstargzFormat format) => Format = format;

    public override EstargzFormat Format { get; }

    public override int FooterSize => Format == EstargzFormat.Estargz ? Footer.Size : Footer.LegacySize;

    public override bool TryParseFooter(ReadOnlySpan<byte> footer, out long tocOffset) =>
        Format == EstargzFormat.Estargz ? Footer.TryParse(footer, out tocOffset) : Footer.TryParseLegacy(footer, out tocOffset);

    public override Stream OpenDecompressor(Stream compressed) =>
        new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: false);

    public override (byte[] Json, Digest Digest) ReadToc(ReadOnlyMemory<byte> region, int maxTocSize) =>
        TocMember.Read(this, region, maxTocSize);
}
