using System.Buffers;
using System.Security.Cryptography;
using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>
/// Checks a whole eStargz blob: footer, TOC digest (against an expected one when given), TOC
/// consistency, every chunk against its chunkDigest, every file against its digest, and that
/// the tar stream the blob decompresses to has exactly the TOC's entries, in order, with the
/// same names, types, sizes and metadata. Problems are collected, not thrown, so one run
/// reports everything that is wrong.
/// </summary>
public static class EstargzVerifier
{
    public const int MaxProblems = 100;

    public static async Task<EstargzVerificationResult> VerifyAsync(
        IBlobSource source,
        Digest? expectedTocDigest = null,
        EstargzReaderOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var problems = new Problems();
        EstargzReader reader;
        try
        {
            reader = await EstargzReader.OpenAsync(source, expectedTocDigest, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is EstargzFormatException or DigestMismatchException)
        {
            problems.Add(e.Message);
            return new EstargzVerificationResult { BlobSize = source.Size, Problems = problems.List };
        }

        var chunks = await VerifyChunksAsync(reader, problems, cancellationToken).ConfigureAwait(false);
        // The tar walk decompresses the blob front to back with synchronous reads; keep it off the caller's thread.
        var tarEntries = await Task.Run(() => VerifyTarStream(reader, source, problems, cancellationToken), cancellationToken).ConfigureAwait(false);

        return new EstargzVerificationResult
        {
            Format = reader.Format,
            TocDigest = reader.TocDigest,
            BlobSize = source.Size,
            TocEntryCount = reader.Toc.Entries.Count,
            RegularFileCount = chunks.Files,
            ChunkCount = chunks.Total,
            VerifiedChunkCount = chunks.Verified,
            VerifiedBytes = chunks.Bytes,
            TarEntryCount = tarEntries,
            Problems = problems.List,
        };
    }

    private static async Task<(int Files, int Total, int Verified, long Bytes)> VerifyChunksAsync(EstargzReader reader, Problems problems, CancellationToken cancellationToken)
    {
        int files = 0, total = 0, verified = 0;
        long bytes = 0;
        using var fileHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var entry in reader.Toc.Entries.Where(e => e.Type == TocEntryTypes.Regular))
        {
            files++;
            var fileIntact = true;
            foreach (var chunk in reader.GetChunks(entry))
            {
                total++;
                var buffer = ArrayPool<byte>.Shared.Rent((int)chunk.Size);
                try
                {
                    await reader.ReadChunkAsync(chunk, buffer, cancellationToken).ConfigureAwait(false);
                    fileHash.AppendData(buffer, 0, (int)chunk.Size);
                    verified++;
                    bytes += chunk.Size;
                }
                catch (Exception e) when (e is EstargzFormatException or DigestMismatchException)
                {
                    fileIntact = false;
                    problems.Add($"'{entry.Name}' chunk at {chunk.FileOffset}: {e.Message}");
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            var actual = Digest.FromSha256Hash(fileHash.GetHashAndReset());
            if (fileIntact && !string.IsNullOrEmpty(entry.Digest) && entry.Digest != actual.Value)
            {
                problems.Add($"'{entry.Name}': content digest is {actual}, the TOC says {entry.Digest}");
            }
        }
        return (files, total, verified, bytes);
    }

    /// <summary>
    /// Decompresses the whole blob as one tar stream and compares it entry by entry with the TOC;
    /// in eStargz the TOC's own entry follows, in zstd:chunked (whose TOC is in a skippable frame) nothing does.
    /// </summary>
    private static int VerifyTarStream(EstargzReader reader, IBlobSource source, Problems problems, CancellationToken cancellationToken)
    {
        var expected = reader.Toc.Entries.Where(e => e.Type != TocEntryTypes.Chunk).ToList();
        var tocInTar = reader.Format != EstargzFormat.ZstdChunked;
        var count = 0;
        try
        {
            using var blob = new BlobSourceStream(source, cancellationToken);
            using var decompressed = reader.OpenBlobDecompressor(blob);
            var tar = new ForwardTarSource(decompressed);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                foreach (var item in TarScanner.Enumerate(tar))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var contentDigest = HashData(tar, item, hash, buffer);
                    if (count < expected.Count)
                    {
                        Compare(expected[count], item, contentDigest, problems);
                    }
                    else if (count == expected.Count && tocInTar)
                    {
                        CheckTocEntry(item, contentDigest, reader.TocDigest, problems);
                    }
                    count++;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception e) when (e is EstargzFormatException or InvalidDataException or EndOfStreamException or ZstdSharp.ZstdException)
        {
            problems.Add($"the blob does not decompress to a tar stream: {e.Message}");
            return count;
        }
        if (count != expected.Count + (tocInTar ? 1 : 0))
        {
            problems.Add(tocInTar
                ? $"the tar stream has {count} entries; the TOC lists {expected.Count} plus the TOC itself"
                : $"the tar stream has {count} entries; the TOC lists {expected.Count}");
        }
        return count;
    }

    private static Digest HashData(ForwardTarSource tar, TarItem item, IncrementalHash hash, byte[] buffer)
    {
        var remaining = item.Size;
        var position = item.DataOffset;
        while (remaining > 0)
        {
            var wanted = (int)Math.Min(remaining, buffer.Length);
            var read = tar.ReadAtMost(position, buffer.AsSpan(0, wanted));
            if (read < wanted)
            {
                throw new EstargzFormatException($"the data of '{item.Name}' is truncated");
            }
            hash.AppendData(buffer, 0, read);
            remaining -= read;
            position += read;
        }
        return Digest.FromSha256Hash(hash.GetHashAndReset());
    }

    private static void Compare(TocEntry entry, TarItem item, Digest contentDigest, Problems problems)
    {
        var where = $"tar entry '{item.Name}'";
        if (entry.Name != item.Name)
        {
            problems.Add($"{where} is where the TOC lists '{entry.Name}'");
            return;
        }
        void Check<T>(string field, T inToc, T inTar)
        {
            if (!EqualityComparer<T>.Default.Equals(inToc, inTar))
            {
                problems.Add($"{where}: {field} is {inTar} in the tar stream but {inToc} in the TOC");
            }
        }
        Check("type", entry.Type, item.Type);
        Check("size", entry.Size, item.Type == TocEntryTypes.Regular ? item.Size : 0);
        Check("mode", entry.Mode, item.Mode);
        Check("uid", entry.Uid, item.Uid);
        Check("gid", entry.Gid, item.Gid);
        Check("link target", entry.LinkName ?? "", item.LinkName ?? "");
        Check("modification time", entry.ModTime, TocEntry.FormatModTime(item.ModTime));
        Check("device", (entry.DevMajor, entry.DevMinor), (item.DevMajor, item.DevMinor));
        Check("xattrs", XattrText(entry.Xattrs), XattrText(item.Xattrs));
        if (entry.Type == TocEntryTypes.Regular && !string.IsNullOrEmpty(entry.Digest))
        {
            Check("content digest", entry.Digest, contentDigest.Value);
        }
    }

    private static void CheckTocEntry(TarItem item, Digest contentDigest, Digest tocDigest, Problems problems)
    {
        if (item.CanonicalName != EstargzConstants.TocFileName)
        {
            problems.Add($"tar entry '{item.Name}' follows the last TOC entry; expected {EstargzConstants.TocFileName}");
        }
        else if (contentDigest != tocDigest)
        {
            problems.Add($"the {EstargzConstants.TocFileName} in the tar stream is not the TOC the footer points at");
        }
    }

    private static string XattrText(IEnumerable<KeyValuePair<string, byte[]>>? xattrs) =>
        xattrs is null ? "" : string.Join(",", xattrs.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Key + "=" + Convert.ToBase64String(x.Value)));

    private sealed class Problems
    {
        private int _dropped;

        public List<string> List { get; } = [];

        public void Add(string problem)
        {
            if (List.Count < MaxProblems)
            {
                List.Add(problem);
                return;
            }
            _dropped++;
            var summary = $"… and {_dropped} more problems";
            if (List.Count == MaxProblems)
            {
                List.Add(summary);
            }
            else
            {
                List[^1] = summary;
            }
        }
    }
}
