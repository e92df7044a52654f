using System.Buffers;
using System.Security.Cryptography;
using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>
/// An opened eStargz blob: its verified and validated TOC, and verified reads of file content.
/// Opening costs one ranged read of the blob's tail (two when the TOC is larger than
/// <see cref="EstargzReaderOptions.TailReadSize"/>). Thread-safe after opening.
/// </summary>
public sealed class EstargzReader
{
    private const int SkipBufferSize = 64 * 1024;

    private readonly IBlobSource _source;
    private readonly LayerCompression _compression;
    private readonly TocIndex _index;

    private EstargzReader(IBlobSource source, LayerCompression compression, Toc toc, Digest tocDigest, long tocOffset, TocIndex index)
    {
        _source = source;
        _compression = compression;
        Toc = toc;
        TocDigest = tocDigest;
        TocOffset = tocOffset;
        _index = index;
    }

    /// <summary>The TOC as parsed (owner names filled in where writers omitted repeats). Treat as read-only.</summary>
    public Toc Toc { get; }

    /// <summary>sha256 of the uncompressed TOC JSON; verified against the expected digest when one was given.</summary>
    public Digest TocDigest { get; }

    /// <summary>Blob offset of the TOC (the gzip member or zstd skippable frame that holds it); all payload lies before it.</summary>
    public long TocOffset { get; }

    public EstargzFormat Format => _compression.Format;

    public long BlobSize => _source.Size;

    /// <summary>Every entry by canonical name (<c>bin/sh</c>; the root is <c>""</c>), including directories the TOC only implies.</summary>
    public IReadOnlyDictionary<string, TocEntry> Entries => _index.Entries;

    /// <summary>Blob offset where the prioritized files end (the <c>.prefetch.landmark</c> member), if the layer has one.</summary>
    public long? PrefetchLandmarkOffset => _index.PrefetchLandmarkOffset;

    /// <summary>True when the layer says there is nothing to prefetch (<c>.no.prefetch.landmark</c>).</summary>
    public bool HasNoPrefetchLandmark => _index.HasNoPrefetchLandmark;

    /// <summary>
    /// Reads the footer and TOC, verifies the TOC digest when <paramref name="expectedTocDigest"/>
    /// is given (throwing <see cref="DigestMismatchException"/>), and validates the TOC (throwing
    /// <see cref="EstargzFormatException"/>).
    /// </summary>
    public static async Task<EstargzReader> OpenAsync(
        IBlobSource source,
        Digest? expectedTocDigest,
        EstargzReaderOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= EstargzReaderOptions.Default;
        var size = source.Size;
        var minFooter = LayerCompression.Known.Min(c => c.FooterSize);
        if (size < minFooter)
        {
            throw new EstargzFormatException($"blob of {size} bytes is too small to hold an eStargz footer");
        }
        var tailLength = (int)Math.Min(size, (long)options.TailReadSize + LayerCompression.MaxFooterSize);
        var tailStart = size - tailLength;
        var tail = new byte[tailLength];
        await ReadBlobAsync(source, tailStart, tail, cancellationToken).ConfigureAwait(false);

        var compression = LayerCompression.Detect(tail, out var tocOffset)
            ?? throw new EstargzFormatException("blob does not end with an eStargz, zstd:chunked or stargz footer");
        var tocEnd = size - compression.FooterSize;
        if (tocOffset >= tocEnd)
        {
            throw new EstargzFormatException($"footer points at a TOC offset {tocOffset} at or past the footer at {tocEnd}");
        }
        if (tocEnd - tocOffset > options.MaxTocSize)
        {
            throw new EstargzFormatException($"compressed TOC of {tocEnd - tocOffset} bytes exceeds the limit of {options.MaxTocSize}");
        }
        ReadOnlyMemory<byte> member;
        if (tocOffset >= tailStart)
        {
            member = tail.AsMemory((int)(tocOffset - tailStart), (int)(tocEnd - tocOffset));
        }
        else
        {
            // Only the front of the TOC that the tail missed: the rest is already here.
            var buffer = new byte[tocEnd - tocOffset];
            var missing = (int)(tailStart - tocOffset);
            await ReadBlobAsync(source, tocOffset, buffer.AsMemory(0, missing), cancellationToken).ConfigureAwait(false);
            tail.AsSpan(0, (int)(tocEnd - tailStart)).CopyTo(buffer.AsSpan(missing));
            member = buffer;
        }

        var (json, tocDigest) = compression.ReadToc(member, options.MaxTocSize);
        if (expectedTocDigest is { } expected && expected != tocDigest)
        {
            throw new DigestMismatchException("TOC", expected, tocDigest);
        }
        var toc = Toc.Parse(json);
        var index = TocIndex.Build(toc, tocOffset);
        return new EstargzReader(source, compression, toc, tocDigest, tocOffset, index);
    }

    public bool TryGetEntry(string name, out TocEntry entry)
    {
        string canonical;
        try
        {
            canonical = name.Length == 0 ? EntryNames.Root : EntryNames.Normalize(name, "lookup");
        }
        catch (EstargzFormatException)
        {
            entry = null!;
            return false;
        }
        return _index.Entries.TryGetValue(canonical, out entry!);
    }

    public TocEntry GetEntry(string name) =>
        TryGetEntry(name, out var entry) ? entry : throw new FileNotFoundException($"no entry '{EntryNames.Printable(name)}' in the layer", name);

    /// <summary>Canonical names of the entries directly inside <paramref name="directory"/> (canonical name), in TOC order.</summary>
    public IReadOnlyList<string> GetChildren(string directory) => _index.ChildrenOf(directory);

    /// <summary>For a hardlink, the entry it finally points at (chains resolved); any other entry itself.</summary>
    public TocEntry ResolveHardlink(TocEntry entry) => _index.Resolve(entry);

    /// <summary>The chunks of a regular file (or hardlink to one) ordered by file offset, sizes normalised; empty for empty files.</summary>
    public IReadOnlyList<EstargzChunk> GetChunks(TocEntry file) => _index.ChunksOf(file);

    /// <summary>The chunk that holds byte <paramref name="fileOffset"/> of <paramref name="file"/>, or null past the end.</summary>
    public EstargzChunk? FindChunk(TocEntry file, long fileOffset)
    {
        var chunks = _index.ChunksOf(file);
        int lo = 0, hi = chunks.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (fileOffset < chunks[mid].FileOffset)
            {
                hi = mid - 1;
            }
            else if (fileOffset >= chunks[mid].FileEnd)
            {
                lo = mid + 1;
            }
            else
            {
                return chunks[mid];
            }
        }
        return null;
    }

    /// <summary>
    /// Decompresses one chunk from its compressed member bytes (at least the bytes
    /// [<see cref="EstargzChunk.CompressedOffset"/>, +<see cref="EstargzChunk.CompressedLength"/>)
    /// of the blob), skips <see cref="EstargzChunk.InnerOffset"/>, writes exactly
    /// <see cref="EstargzChunk.Size"/> bytes to <paramref name="destination"/> and verifies them
    /// against the chunk digest. Output is bounded by the chunk size, so a member that would
    /// inflate to more is never inflated past what is needed.
    /// </summary>
    public void ReadChunk(EstargzChunk chunk, ReadOnlySpan<byte> compressed, Span<byte> destination)
    {
        if (destination.Length < chunk.Size)
        {
            throw new ArgumentException($"destination holds {destination.Length} bytes; the chunk has {chunk.Size}", nameof(destination));
        }
        var output = destination[..(int)chunk.Size];
        Inflate(compressed, chunk.InnerOffset, output);
        VerifyChunk(chunk, output);
    }

    /// <summary>
    /// Decompresses the first <c>destination.Length</c> bytes of the member whose compressed bytes
    /// start <paramref name="compressed"/>: for a member that several chunks share, inflated once and
    /// then served with <see cref="ReadChunkFromInflated"/>, instead of inflating it again for each chunk.
    /// </summary>
    /// <exception cref="EstargzFormatException">The member is not valid compressed data or ends early.</exception>
    public void InflateMember(ReadOnlySpan<byte> compressed, Span<byte> destination) => Inflate(compressed, 0, destination);

    /// <summary>Copies a chunk out of its member inflated by <see cref="InflateMember"/> and verifies it against its digest.</summary>
    public static void ReadChunkFromInflated(EstargzChunk chunk, ReadOnlySpan<byte> inflatedMember, Span<byte> destination)
    {
        if (chunk.InnerOffset + chunk.Size > inflatedMember.Length)
        {
            throw new EstargzFormatException($"the chunk at file offset {chunk.FileOffset} lies past its inflated member");
        }
        var output = destination[..(int)chunk.Size];
        inflatedMember.Slice((int)chunk.InnerOffset, (int)chunk.Size).CopyTo(output);
        VerifyChunk(chunk, output);
    }

    /// <summary>Fetches a chunk's compressed bytes from the blob and decompresses and verifies them into <paramref name="destination"/>.</summary>
    public async ValueTask ReadChunkAsync(EstargzChunk chunk, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var length = checked((int)chunk.CompressedLength);
        var compressed = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await ReadBlobAsync(_source, chunk.CompressedOffset, compressed.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            ReadChunk(chunk, compressed.AsSpan(0, length), destination.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    /// <summary>
    /// Reads up to <paramref name="destination"/>.Length bytes of a regular file from
    /// <paramref name="offset"/>, verifying every chunk it touches; returns the count (0 at or past the end).
    /// </summary>
    public async ValueTask<int> ReadFileAsync(TocEntry file, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var target = _index.Resolve(file);
        if (target.Type != TocEntryTypes.Regular)
        {
            throw new ArgumentException($"'{EntryNames.Printable(file.Name)}' is not a regular file", nameof(file));
        }
        var total = 0;
        byte[]? scratch = null;
        try
        {
            while (total < destination.Length && FindChunk(target, offset) is { } chunk)
            {
                var within = (int)(offset - chunk.FileOffset);
                var wanted = (int)Math.Min(destination.Length - total, chunk.Size - within);
                var slice = destination.Slice(total, wanted);
                if (within == 0 && wanted == chunk.Size)
                {
                    await ReadChunkAsync(chunk, slice, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // A partial chunk is still read and verified whole; only the part asked for is copied out.
                    if (scratch is null || scratch.Length < chunk.Size)
                    {
                        if (scratch is not null)
                        {
                            ArrayPool<byte>.Shared.Return(scratch);
                        }
                        scratch = ArrayPool<byte>.Shared.Rent((int)chunk.Size);
                    }
                    await ReadChunkAsync(chunk, scratch, cancellationToken).ConfigureAwait(false);
                    scratch.AsSpan(within, wanted).CopyTo(slice.Span);
                }
                total += wanted;
                offset += wanted;
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
        return total;
    }

    /// <summary>Reads a whole regular file (or what a hardlink points at), verified.</summary>
    public async Task<byte[]> ReadAllBytesAsync(string name, CancellationToken cancellationToken = default)
    {
        var entry = _index.Resolve(GetEntry(name));
        if (entry.Size > Array.MaxLength)
        {
            throw new InvalidOperationException($"'{EntryNames.Printable(name)}' is too large to read into one array");
        }
        var content = new byte[entry.Size];
        var read = await ReadFileAsync(entry, 0, content, cancellationToken).ConfigureAwait(false);
        return read == content.Length ? content : throw new EstargzFormatException($"'{EntryNames.Printable(name)}' chunks end before its size");
    }

    /// <summary>The whole blob's members, decompressed in sequence (skippable frames decompress to nothing).</summary>
    internal Stream OpenBlobDecompressor(Stream blob) => _compression.OpenDecompressor(blob);

    /// <summary>Inflates from pooled or pinned memory without copying it into a stream's buffer.</summary>
    private unsafe void Inflate(ReadOnlySpan<byte> compressed, long skip, Span<byte> output)
    {
        fixed (byte* pointer = compressed)
        {
            using var input = new UnmanagedMemoryStream(pointer, compressed.Length);
            Inflate(_compression, input, skip, output);
        }
    }

    internal static void Inflate(LayerCompression compression, Stream input, long skip, Span<byte> output)
    {
        try
        {
            using var decompressor = compression.OpenDecompressor(input);
            if (skip > 0)
            {
                var discard = ArrayPool<byte>.Shared.Rent(SkipBufferSize);
                try
                {
                    while (skip > 0)
                    {
                        var read = decompressor.Read(discard, 0, (int)Math.Min(skip, discard.Length));
                        if (read == 0)
                        {
                            throw new EstargzFormatException("a compressed member ends before the chunk's inner offset");
                        }
                        skip -= read;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(discard);
                }
            }
            while (!output.IsEmpty)
            {
                var read = decompressor.Read(output);
                if (read == 0)
                {
                    throw new EstargzFormatException("a compressed member ends before the chunk is complete");
                }
                output = output[read..];
            }
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException or EndOfStreamException)
        {
            throw new EstargzFormatException($"a chunk's member is not valid compressed data: {e.Message}", e);
        }
    }

    internal static void VerifyChunk(EstargzChunk chunk, ReadOnlySpan<byte> data)
    {
        if (!chunk.Digest.Matches(data))
        {
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(data, hash);
            throw new DigestMismatchException($"chunk at file offset {chunk.FileOffset} (blob offset {chunk.CompressedOffset})", chunk.Digest, Digest.FromSha256Hash(hash));
        }
    }

    private static async ValueTask ReadBlobAsync(IBlobSource source, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            await source.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException e)
        {
            throw new EstargzFormatException($"blob is truncated: cannot read {destination.Length} bytes at {offset}", e);
        }
    }
}
