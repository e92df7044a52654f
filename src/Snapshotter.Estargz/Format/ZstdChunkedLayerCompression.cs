using System.Security.Cryptography;
using Snapshotter.Oci;
using ZstdSharp;

namespace Snapshotter.Estargz;

/// <summary>
/// zstd:chunked: every member is a zstd frame; the TOC is the JSON alone (no tar header),
/// zstd-compressed inside a skippable frame, followed by the footer's skippable frame
/// (<see cref="ZstdChunkedFooter"/>).
/// </summary>
internal sealed class ZstdChunkedLayerCompression : LayerCompression
{
    public static readonly ZstdChunkedLayerCompression Instance = new();

    private ZstdChunkedLayerCompression()
    {
    }

    public override EstargzFormat Format => EstargzFormat.ZstdChunked;

    public override int FooterSize => ZstdChunkedFooter.Size;

    public override bool TryParseFooter(ReadOnlySpan<byte> footer, out long tocOffset) =>
        ZstdChunkedFooter.TryParse(footer, out tocOffset, out _);

    public override Stream OpenDecompressor(Stream compressed) =>
        new DecompressionStream(compressed, leaveOpen: false);

    public override (byte[] Json, Digest Digest) ReadToc(ReadOnlyMemory<byte> region, int maxTocSize)
    {
        var span = region.Span;
        if (!ZstdChunkedFooter.IsSkippableFrameHeader(span, out var frameSize) ||
            frameSize != span.Length - ZstdChunkedFooter.SkippableFrameHeaderSize)
        {
            throw new EstargzFormatException("the zstd:chunked TOC is not one skippable frame that ends at the footer");
        }
        var compressed = region[ZstdChunkedFooter.SkippableFrameHeaderSize..];
        using var json = new MemoryStream();
        try
        {
            using var decompressor = OpenDecompressor(new ReadOnlyMemoryStream(compressed));
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = decompressor.Read(buffer)) > 0)
            {
                if (json.Length + read > maxTocSize)
                {
                    throw new EstargzFormatException($"the TOC is larger than the limit of {maxTocSize} bytes");
                }
                json.Write(buffer, 0, read);
            }
        }
        catch (ZstdException e)
        {
            throw new EstargzFormatException($"the zstd:chunked TOC is not valid zstd data: {e.Message}", e);
        }
        var bytes = json.ToArray();
        return (bytes, Digest.FromSha256Hash(SHA256.HashData(bytes)));
    }
}
