using System.Security.Cryptography;
using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>Decompresses the TOC member: one tar header named <c>stargz.index.json</c>, then the JSON.</summary>
internal static class TocMember
{
    public static (byte[] Json, Digest Digest) Read(LayerCompression compression, ReadOnlyMemory<byte> member, int maxTocSize)
    {
        try
        {
            using var decompressor = compression.OpenDecompressor(new ReadOnlyMemoryStream(member));
            Span<byte> header = stackalloc byte[TarHeader.BlockSize];
            ReadExactly(decompressor, header, "the TOC tar header");
            if (!TarHeader.ChecksumMatches(header))
            {
                throw new EstargzFormatException("the TOC member does not start with a valid tar header");
            }
            var name = TarHeader.ReadName(header);
            if (name != EstargzConstants.TocFileName)
            {
                throw new EstargzFormatException($"the TOC member holds '{EntryNames.Printable(name)}', expected {EstargzConstants.TocFileName}");
            }
            var type = header[TarHeader.TypeFlagOffset];
            if (type is not ((byte)'0' or 0))
            {
                throw new EstargzFormatException("the TOC tar entry is not a regular file");
            }
            if (!TarHeader.TryParseNumber(header.Slice(TarHeader.SizeOffset, TarHeader.SizeLength), out var size) || size > maxTocSize)
            {
                throw new EstargzFormatException($"the TOC size is malformed or larger than the limit of {maxTocSize} bytes");
            }
            var json = new byte[size];
            ReadExactly(decompressor, json, "the TOC JSON");
            return (json, Digest.FromSha256Hash(SHA256.HashData(json)));
        }
        catch (InvalidDataException e)
        {
            throw new EstargzFormatException($"the TOC member is not valid compressed data: {e.Message}", e);
        }
    }

    private static void ReadExactly(Stream stream, Span<byte> destination, string what)
    {
        try
        {
            stream.ReadExactly(destination);
        }
        catch (EndOfStreamException e)
        {
            throw new EstargzFormatException($"the TOC member ends before {what} is complete", e);
        }
    }
}
