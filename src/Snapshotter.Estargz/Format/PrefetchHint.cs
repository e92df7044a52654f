using System.Globalization;
using System.Text;

namespace Snapshotter.Estargz;

/// <summary>A range of a layer blob's compressed bytes.</summary>
public readonly record struct BlobSpan(long Offset, long Length)
{
    public long End => Offset + Length;
}

/// <summary>
/// Our layer annotation <see cref="Annotation"/>: the compressed byte ranges a snapshotter's prefetch
/// of the layer will fetch, as <c>offset+length</c> pairs joined by commas, ascending. With it a
/// snapshotter can start the prefetch while the footer and TOC are still on their way (on a new
/// connection a large TOC takes several round trips); the bytes are verified against the TOC's chunk
/// digests when it arrives, like any other, so a wrong hint costs transfer, never correctness.
/// Written by <c>estargz convert</c>/<c>optimize</c> for layers with a prefetch region; readers that
/// do not know it ignore it. Its key begins with <c>containerd.io/snapshot/</c>, so containerd passes
/// it to the snapshotter with the layer's Prepare labels (see <see cref="TocOffsetHint"/>).
/// </summary>
public static class PrefetchHint
{
    public const string Annotation = "containerd.io/snapshot/stargz-dotnet/prefetch-ranges";

    /// <summary>Unmarked compressed bytes between two prefetched runs that are fetched rather than skipped (as the snapshotter's prefetch does).</summary>
    public const long MergeGap = 64 * 1024;

    /// <summary>At most this many ranges are written (the front of the prefetch, read first) or accepted: the value stays a few KB.</summary>
    public const int MaxRanges = 256;

    /// <summary>The longest value written, so that with its key it fits a containerd label (4,096 bytes), as which containerd passes it on.</summary>
    public const int MaxLength = 4096 - 64;

    /// <summary>
    /// What the prefetch of a layer with this TOC (its TOC member at <paramref name="tocOffset"/>)
    /// fetches: nothing without a <c>.prefetch.landmark</c>; otherwise the members before it, except
    /// that a file with chunks marked <c>prefetch</c> gives only those; runs closer than
    /// <see cref="MergeGap"/> are joined. At most <see cref="MaxRanges"/>, from the front.
    /// </summary>
    public static IReadOnlyList<BlobSpan> FromToc(Toc toc, long tocOffset)
    {
        ArgumentNullException.ThrowIfNull(toc);
        var landmark = toc.Entries.FirstOrDefault(e => e.Name == EstargzConstants.PrefetchLandmark && e.Type == TocEntryTypes.Regular);
        if (landmark is null)
        {
            return [];
        }
        // Members by offset: each ends where the next begins (the last at the TOC), as readers see them.
        var members = new SortedDictionary<long, List<TocEntry>>();
        foreach (var entry in toc.Entries.Where(HasPayload))
        {
            if (!members.TryGetValue(entry.Offset, out var chunks))
            {
                members[entry.Offset] = chunks = [];
            }
            chunks.Add(entry);
        }
        var offsets = members.Keys.ToList();
        var end = offsets.BinarySearch(landmark.Offset);
        end = end < 0 ? ~end : end;
        var marked = new HashSet<string>(offsets.Take(end).SelectMany(o => members[o]).Where(e => e.Prefetch).Select(e => e.Name), StringComparer.Ordinal);

        var spans = new List<BlobSpan>();
        for (var i = 0; i < end; i++)
        {
            var chunks = members[offsets[i]];
            if (marked.Count > 0 && !chunks.Any(c => c.Prefetch || !marked.Contains(c.Name)))
            {
                continue;
            }
            var memberEnd = i + 1 < offsets.Count ? offsets[i + 1] : tocOffset;
            if (spans.Count > 0 && offsets[i] - spans[^1].End < MergeGap)
            {
                spans[^1] = spans[^1] with { Length = memberEnd - spans[^1].Offset };
            }
            else if (spans.Count < MaxRanges)
            {
                spans.Add(new BlobSpan(offsets[i], memberEnd - offsets[i]));
            }
            else
            {
                break;
            }
        }
        return spans;
    }

    /// <summary>The ranges as the annotation's value: as many from the front as fit <see cref="MaxLength"/>.</summary>
    public static string Format(IReadOnlyList<BlobSpan> spans)
    {
        var text = new StringBuilder();
        foreach (var span in spans)
        {
            var range = string.Create(CultureInfo.InvariantCulture, $"{(text.Length == 0 ? "" : ",")}{span.Offset}+{span.Length}");
            if (text.Length + range.Length > MaxLength)
            {
                break;
            }
            text.Append(range);
        }
        return text.ToString();
    }

    /// <summary>
    /// Parses an annotation value for a blob of <paramref name="blobSize"/> bytes. False (and no
    /// spans) for anything but ascending, non-overlapping, non-empty ranges inside the blob, at most
    /// <see cref="MaxRanges"/> of them: a hint that is not exactly right is not used at all.
    /// </summary>
    public static bool TryParse(string? text, long blobSize, out IReadOnlyList<BlobSpan> spans)
    {
        spans = [];
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        var parsed = new List<BlobSpan>();
        long previousEnd = 0;
        foreach (var part in text.Split(','))
        {
            var plus = part.IndexOf('+', StringComparison.Ordinal);
            if (plus <= 0 || parsed.Count == MaxRanges
                || !long.TryParse(part.AsSpan(0, plus), NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
                || !long.TryParse(part.AsSpan(plus + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                || length == 0 || offset < previousEnd || offset > blobSize || length > blobSize - offset)
            {
                return false;
            }
            parsed.Add(new BlobSpan(offset, length));
            previousEnd = offset + length;
        }
        spans = parsed;
        return true;
    }

    private static bool HasPayload(TocEntry entry) =>
        entry.Type == TocEntryTypes.Chunk || (entry.Type == TocEntryTypes.Regular && entry.Size > 0);
}
