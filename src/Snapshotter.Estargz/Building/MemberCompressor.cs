using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;
using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>
/// Materialises a planned member and compresses it: gzip with zlib (the header's OS byte set to
/// 255, "unknown", as Go writes it, so the output does not depend on the platform zlib was built
/// for; MTIME is already 0), or one zstd frame.
/// </summary>
internal static class MemberCompressor
{
    private const int GzipOsOffset = 9;
    private const byte OsUnknown = 0xff;

    public sealed class Result(MemberPlan plan, byte[] uncompressed, PooledBuffer compressed, string[] chunkDigests) : IDisposable
    {
        public MemberPlan Plan { get; } = plan;
        public ReadOnlySpan<byte> Uncompressed => uncompressed.AsSpan(0, (int)Plan.Length);
        public ReadOnlySpan<byte> Compressed => compressed.WrittenSpan;
        public ReadOnlyMemory<byte> CompressedMemory => compressed.WrittenMemory;
        public IReadOnlyList<string> ChunkDigests { get; } = chunkDigests;

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(uncompressed);
            compressed.Dispose();
        }
    }

    /// <summary>Compresses with <paramref name="zstd"/> when given (zstd:chunked), else gzip at <paramref name="level"/>.</summary>
    public static Result Compress(MemberPlan plan, TarSpool spool, ZstdFrames? zstd, int level)
    {
        var length = checked((int)plan.Length);
        var uncompressed = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        var compressed = new PooledBuffer(length + (length / 1000) + 1024);
        try
        {
            var span = uncompressed.AsSpan(0, length);
            var at = 0;
            foreach (var piece in plan.Pieces)
            {
                var target = span.Slice(at, (int)piece.Length);
                if (piece.Bytes is { } bytes)
                {
                    bytes.CopyTo(target);
                }
                else
                {
                    spool.Read(piece.SpoolOffset, target);
                }
                at += (int)piece.Length;
            }
            var digests = new string[plan.Payloads.Count];
            for (var i = 0; i < digests.Length; i++)
            {
                var payload = plan.Payloads[i];
                digests[i] = Digest.Compute(span.Slice((int)payload.InnerOffset, (int)payload.Length)).Value;
            }
            if (zstd is not null)
            {
                zstd.Compress(span, compressed);
            }
            else
            {
                Gzip(span, compressed, level);
            }
            return new Result(plan, uncompressed, compressed, digests);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(uncompressed);
            compressed.Dispose();
            throw;
        }
    }

    /// <summary>Gzips <paramref name="data"/> as one member; written in one call so the output does not depend on buffering.</summary>
    public static void Gzip(ReadOnlySpan<byte> data, PooledBuffer output, int level)
    {
        using (var gzip = new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
        {
            gzip.Write(data);
        }
        var header = output.WrittenSpanMutable;
        if (header.Length < 10 || header[0] != 0x1f || header[1] != 0x8b || header[2] != 8 || header[3] != 0)
        {
            throw new InvalidOperationException("zlib wrote an unexpected gzip header");
        }
        header[GzipOsOffset] = OsUnknown;
    }
}
