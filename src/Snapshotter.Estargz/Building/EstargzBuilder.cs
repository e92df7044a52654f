using System.Security.Cryptography;
using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>
/// Converts a tar or tar+gzip layer into eStargz (or zstd:chunked, see
/// <see cref="EstargzBuildOptions.Format"/>). Original tar headers (PAX records, GNU long
/// names, owners, modes, times, device numbers, xattrs) are copied byte for byte; only the
/// gzip framing and the order of prioritized files change, so <c>tar -xzf</c> and containerd
/// unpack the result to the same tree as the input (plus the TOC and landmark files).
/// Members are compressed in parallel and written in order; the same input and options always
/// give the same bytes.
/// </summary>
public static class EstargzBuilder
{
    public static async Task<EstargzBuildResult> BuildAsync(
        Stream input,
        Stream output,
        EstargzBuildOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        options ??= EstargzBuildOptions.Default;
        options.Validate();

        using var spool = await TarSpool.CreateAsync(input, options.TempDirectory, cancellationToken).ConfigureAwait(false);
        var items = TarScanner.Scan(spool);
        var slots = EntryOrder.Arrange(items, options);
        var toc = new Toc();
        var planner = new MemberPlanner(options, toc);

        using var writer = new BlobWriter(output);
        using var zstd = options.Format == EstargzFormat.ZstdChunked ? new ZstdFrames(options.CompressionLevel) : null;
        // At most Parallelism members compress at once; up to twice that many wait, compressed, to be written in order.
        using var workers = new SemaphoreSlim(options.Parallelism, options.Parallelism);
        var inFlight = new Queue<Task<MemberCompressor.Result>>();
        try
        {
            foreach (var plan in planner.Plan(slots))
            {
                cancellationToken.ThrowIfCancellationRequested();
                inFlight.Enqueue(CompressAsync(plan, spool, zstd, options.CompressionLevel, workers, cancellationToken));
                // Bounded look-ahead: enough to keep every core busy, little enough to bound memory.
                while (inFlight.Count > options.Parallelism * 2)
                {
                    await WriteMemberAsync(writer, await inFlight.Dequeue().ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                }
            }
            while (inFlight.Count > 0)
            {
                await WriteMemberAsync(writer, await inFlight.Dequeue().ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            // Let the workers finish and give their pooled buffers back before the spool goes away.
            foreach (var pending in inFlight)
            {
                try
                {
                    (await pending.ConfigureAwait(false)).Dispose();
                }
                catch (Exception)
                {
                    // The first failure is the one rethrown below.
                }
            }
            throw;
        }

        var tocOffset = writer.Position;
        var tocJson = toc.ToJson();
        ZstdChunkedToc? zstdToc = null;
        if (zstd is null)
        {
            await WriteTocMemberAsync(writer, tocJson, options.CompressionLevel, cancellationToken).ConfigureAwait(false);
            var footer = new byte[Footer.Size];
            Footer.Write(footer, tocOffset);
            await writer.WriteCompressedAsync(footer, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            zstdToc = await WriteZstdTocAndFooterAsync(writer, tocJson, zstd, cancellationToken).ConfigureAwait(false);
        }
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);

        return new EstargzBuildResult(
            Digest.FromSha256Hash(SHA256.HashData(tocJson)),
            writer.DiffId(),
            writer.UncompressedLength,
            writer.Position,
            writer.BlobDigest(),
            toc)
        {
            Format = options.Format,
            ZstdChunkedToc = zstdToc,
            PrefetchSpans = PrefetchHint.FromToc(toc, tocOffset),
            TocOffset = tocOffset,
        };
    }

    private static async Task<MemberCompressor.Result> CompressAsync(MemberPlan plan, TarSpool spool, ZstdFrames? zstd, int level, SemaphoreSlim workers, CancellationToken cancellationToken)
    {
        await workers.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => MemberCompressor.Compress(plan, spool, zstd, level), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            workers.Release();
        }
    }

    private static async Task WriteMemberAsync(BlobWriter writer, MemberCompressor.Result member, CancellationToken cancellationToken)
    {
        using (member)
        {
            var offset = writer.Position;
            var payloads = member.Plan.Payloads;
            for (var i = 0; i < payloads.Count; i++)
            {
                var payload = payloads[i];
                payload.Entry.Offset = offset;
                payload.Entry.ChunkDigest = member.ChunkDigests[i];
                payload.File.Append(member.Uncompressed.Slice((int)payload.InnerOffset, (int)payload.Length), member.ChunkDigests[i]);
            }
            writer.AppendUncompressed(member.Uncompressed);
            await writer.WriteCompressedAsync(member.CompressedMemory, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The TOC member: the TOC's tar header, the JSON, its padding and the two end-of-archive blocks.</summary>
    private static async Task WriteTocMemberAsync(BlobWriter writer, byte[] tocJson, int level, CancellationToken cancellationToken)
    {
        var length = TarHeader.BlockSize + TarHeader.PaddedSize(tocJson.Length) + (2 * TarHeader.BlockSize);
        var tar = new byte[length];
        TarHeader.WriteRegularFileHeader(tar, EstargzConstants.TocFileName, 0x1a4, tocJson.Length);
        tocJson.CopyTo(tar, TarHeader.BlockSize);
        using var compressed = new PooledBuffer(tar.Length / 4);
        MemberCompressor.Gzip(tar, compressed, level);
        writer.AppendUncompressed(tar);
        await writer.WriteCompressedAsync(compressed.WrittenMemory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// zstd:chunked's end, as stargz writes it: the compressed TOC JSON in a skippable frame, then
    /// the footer's skippable frame. Neither decompresses to anything, so unlike eStargz the tar
    /// stream (and the DiffID) holds no TOC entry and no end-of-archive blocks.
    /// </summary>
    private static async Task<ZstdChunkedToc> WriteZstdTocAndFooterAsync(BlobWriter writer, byte[] tocJson, ZstdFrames zstd, CancellationToken cancellationToken)
    {
        using var compressed = new PooledBuffer(tocJson.Length / 4);
        zstd.Compress(tocJson, compressed);
        var frameHeader = new byte[ZstdChunkedFooter.SkippableFrameHeaderSize];
        ZstdChunkedFooter.WriteSkippableFrameHeader(frameHeader, compressed.WrittenSpan.Length);
        await writer.WriteCompressedAsync(frameHeader, cancellationToken).ConfigureAwait(false);
        var toc = new ZstdChunkedToc(writer.Position, compressed.WrittenSpan.Length, tocJson.Length, Digest.FromSha256Hash(SHA256.HashData(compressed.WrittenSpan)));
        await writer.WriteCompressedAsync(compressed.WrittenMemory, cancellationToken).ConfigureAwait(false);
        var footer = new byte[ZstdChunkedFooter.Size];
        ZstdChunkedFooter.Write(footer, toc.Offset, toc.CompressedLength, toc.UncompressedLength);
        await writer.WriteCompressedAsync(footer, cancellationToken).ConfigureAwait(false);
        return toc;
    }

    /// <summary>Writes the blob in order, hashing it (blob digest) and the tar it decompresses to (DiffID).</summary>
    private sealed class BlobWriter(Stream output) : IDisposable
    {
        private readonly IncrementalHash _blobHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash _diffHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public long Position { get; private set; }

        public long UncompressedLength { get; private set; }

        public void AppendUncompressed(ReadOnlySpan<byte> data)
        {
            _diffHash.AppendData(data);
            UncompressedLength += data.Length;
        }

        public async ValueTask WriteCompressedAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            _blobHash.AppendData(data.Span);
            await output.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            Position += data.Length;
        }

        public Digest DiffId() => Digest.FromSha256Hash(_diffHash.GetCurrentHash());

        public Digest BlobDigest() => Digest.FromSha256Hash(_blobHash.GetCurrentHash());

        public void Dispose()
        {
            _blobHash.Dispose();
            _diffHash.Dispose();
        }
    }
}
