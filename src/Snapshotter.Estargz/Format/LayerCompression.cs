using System.IO.Compression;

namespace Snapshotter.Estargz;

/// <summary>How a layer blob is framed: which footer it ends with and how its members decompress.</summary>
public enum EstargzFormat
{
    /// <summary>eStargz: gzip members, 51-byte footer.</summary>
    Estargz,

    /// <summary>The original CRFS stargz: gzip members, 47-byte footer.</summary>
    LegacyStargz,
}

/// <summary>
/// The seam where zstd:chunked (a 40-byte footer in a zstd skippable frame, zstd frames for
/// members) plugs in later: the reader detects the framing from the blob's tail and only ever
/// decompresses through <see cref="OpenDecompressor"/>.
/// </summary>
internal abstract class LayerCompression
{
    /// <summary>Candidates in the order the footer is tried, longest footer first so one tail read fits all.</summary>
    public static readonly IReadOnlyList<LayerCompression> Known = [GzipLayerCompression.Estargz, GzipLayerCompression.Legacy];

    public static int MaxFooterSize => Known.Max(c => c.FooterSize);

    public abstract EstargzFormat Format { get; }

    public abstract int FooterSize { get; }

    public abstract bool TryParseFooter(ReadOnlySpan<byte> footer, out long tocOffset);

    /// <summary>A stream of the uncompressed bytes of the member(s) that start at the beginning of <paramref name="compressed"/>.</summary>
    public abstract Stream OpenDecompressor(Stream compressed);

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
}
