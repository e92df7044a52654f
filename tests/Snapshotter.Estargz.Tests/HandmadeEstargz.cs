using System.IO.Compression;
using System.Security.Cryptography;
using Snapshotter.Oci;

namespace Snapshotter.Estargz.Tests;

/// <summary>
/// Assembles eStargz blobs by hand, independently of <see cref="EstargzBuilder"/>, so the reader
/// is not only tested against our own writer, and so tests can splice in any TOC they like.
/// </summary>
internal static class HandmadeEstargz
{
    public sealed record Blob(byte[] Bytes, Toc Toc, long TocOffset, byte[] TocJson)
    {
        public Digest TocDigest => Digest.Compute(TocJson);
    }

    /// <summary>One member per chunk of every file; chunkSize 0 = one chunk per file.</summary>
    public static Blob Build(IEnumerable<(string Name, byte[] Content)> files, int chunkSize = 0, bool legacyFooter = false)
    {
        var blob = new MemoryStream();
        var member = new MemoryStream();
        var toc = new Toc();
        foreach (var (name, content) in files)
        {
            member.Write(TarRegularHeader(name, content.Length));
            var entry = new TocEntry { Name = name, Type = TocEntryTypes.Regular, Size = content.Length, Mode = 0x1a4, Digest = Digest.Compute(content).Value };
            toc.Entries.Add(entry);
            var step = chunkSize == 0 ? Math.Max(content.Length, 1) : chunkSize;
            for (var offset = 0; offset < content.Length; offset += step)
            {
                Flush(blob, member);
                var size = Math.Min(step, content.Length - offset);
                var chunkEntry = offset == 0 ? entry : new TocEntry { Name = name, Type = TocEntryTypes.Chunk };
                if (offset > 0)
                {
                    toc.Entries.Add(chunkEntry);
                }
                chunkEntry.Offset = blob.Length;
                chunkEntry.ChunkOffset = offset;
                chunkEntry.ChunkSize = offset + size < content.Length ? size : 0;
                chunkEntry.ChunkDigest = Digest.Compute(content.AsSpan(offset, size)).Value;
                member.Write(content, offset, size);
            }
            member.Write(new byte[(512 - (content.Length % 512)) % 512]);
        }
        Flush(blob, member);
        return WithToc(blob.ToArray(), toc.ToJson(), toc, legacyFooter);
    }

    /// <summary>Appends a TOC member holding <paramref name="tocJson"/> (any bytes at all) and a footer to <paramref name="payload"/>.</summary>
    public static Blob WithToc(byte[] payload, byte[] tocJson, Toc? toc = null, bool legacyFooter = false, string tocName = EstargzConstants.TocFileName)
    {
        var blob = new MemoryStream();
        blob.Write(payload);
        var tocOffset = blob.Length;
        var member = new MemoryStream();
        member.Write(TarRegularHeader(tocName, tocJson.Length));
        member.Write(tocJson);
        member.Write(new byte[((512 - (tocJson.Length % 512)) % 512) + 1024]);
        Flush(blob, member);
        var footer = new byte[legacyFooter ? Footer.LegacySize : Footer.Size];
        if (legacyFooter)
        {
            Footer.WriteLegacy(footer, tocOffset);
        }
        else
        {
            Footer.Write(footer, tocOffset);
        }
        blob.Write(footer);
        return new Blob(blob.ToArray(), toc ?? new Toc(), tocOffset, tocJson);
    }

    /// <summary>Keeps the payload of <paramref name="original"/> and replaces its TOC by an edited copy.</summary>
    public static Blob EditToc(Blob original, Action<Toc> edit)
    {
        var toc = Toc.Parse(original.TocJson);
        edit(toc);
        return WithToc(original.Bytes[..(int)original.TocOffset], toc.ToJson(), toc);
    }

    public static byte[] TarRegularHeader(string name, long size)
    {
        var header = new byte[512];
        TarHeader.WriteRegularFileHeader(header, name, 0x1a4, size);
        return header;
    }

    public static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static void Flush(MemoryStream blob, MemoryStream member)
    {
        if (member.Length == 0)
        {
            return;
        }
        blob.Write(Gzip(member.ToArray()));
        member.SetLength(0);
    }
}
