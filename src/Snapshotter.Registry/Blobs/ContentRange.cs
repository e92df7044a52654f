using System.Globalization;

namespace Snapshotter.Registry.Blobs;

/// <summary>A <c>Content-Range: bytes first-last/total</c> value (total may be <c>*</c>).</summary>
internal readonly record struct ContentRange(long First, long Last, long? Total)
{
    public long Length => Last - First + 1;

    public static ContentRange Parse(string? text)
    {
        if (text is null || !text.StartsWith("bytes ", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"invalid Content-Range '{text}'");
        }
        var body = text[6..].Trim();
        var slash = body.IndexOf('/', StringComparison.Ordinal);
        var dash = body.IndexOf('-', StringComparison.Ordinal);
        if (slash < 0 || dash < 0 || dash > slash ||
            !long.TryParse(body[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var first) ||
            !long.TryParse(body[(dash + 1)..slash], NumberStyles.None, CultureInfo.InvariantCulture, out var last) ||
            last < first)
        {
            throw new InvalidDataException($"invalid Content-Range '{text}'");
        }
        var totalText = body[(slash + 1)..];
        long? total = null;
        if (totalText != "*")
        {
            if (!long.TryParse(totalText, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= last)
            {
                throw new InvalidDataException($"invalid Content-Range '{text}'");
            }
            total = value;
        }
        return new ContentRange(first, last, total);
    }
}

/// <summary>
/// Reads a <c>multipart/byteranges</c> body: a preamble, then parts of headers (with
/// <c>Content-Range</c>) and exactly as many bytes as the range says, each opened by
/// <c>--boundary</c> and the whole closed by <c>--boundary--</c>.
/// </summary>
internal static class MultipartByteRanges
{
    private const int MaxLine = 8 << 10;
    private const int MaxHeaders = 64;
    private const int MaxParts = 100_000;

    /// <summary>Passes each part's bytes to <paramref name="sink"/>; <paramref name="checkRange"/> validates each part's range first.</summary>
    public static async Task ReadAsync(BodyReader reader, string boundary, Action<ContentRange> checkRange, Action<long, ReadOnlyMemory<byte>> sink)
    {
        var delimiter = "--" + boundary;
        var close = delimiter + "--";
        string? line;
        do
        {
            line = await reader.ReadLineAsync(MaxLine).ConfigureAwait(false) ?? throw new EndOfStreamException("the multipart body ended before its first part");
        }
        while (line.TrimEnd() != delimiter);

        for (var parts = 0; ; parts++)
        {
            if (parts >= MaxParts)
            {
                throw new InvalidDataException($"more than {MaxParts} parts in a multipart body");
            }
            ContentRange? range = null;
            for (var headers = 0; ; headers++)
            {
                line = await reader.ReadLineAsync(MaxLine).ConfigureAwait(false) ?? throw new EndOfStreamException("the multipart body ended in a part's headers");
                if (line.Length == 0)
                {
                    break;
                }
                if (headers >= MaxHeaders)
                {
                    throw new InvalidDataException($"more than {MaxHeaders} headers in a multipart part");
                }
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0 && line[..colon].Trim().Equals("Content-Range", StringComparison.OrdinalIgnoreCase))
                {
                    range = ContentRange.Parse(line[(colon + 1)..].Trim());
                }
            }
            if (range is not { } r)
            {
                throw new InvalidDataException("a multipart part has no Content-Range");
            }
            checkRange(r);
            await reader.CopyExactAsync(r.Length, r.First, sink).ConfigureAwait(false);
            // CR LF after the payload, then the next delimiter (blank lines tolerated).
            do
            {
                line = await reader.ReadLineAsync(MaxLine).ConfigureAwait(false) ?? throw new EndOfStreamException("the multipart body ended without its closing delimiter");
            }
            while (line.Length == 0);
            line = line.TrimEnd();
            if (line == close)
            {
                return;
            }
            if (line != delimiter)
            {
                throw new InvalidDataException($"expected a multipart delimiter, found '{(line.Length > 80 ? line[..80] + "…" : line)}'");
            }
        }
    }
}
