namespace Snapshotter.Estargz;

/// <summary>
/// How the recorded reads (<see cref="EstargzBuildOptions.PrioritizedReads"/>) shape a layer: which
/// prioritized files were read at all, and where a read file's chunks are cut so that each chunk is
/// either read by the workload (marked <c>prefetch</c>) or not.
/// </summary>
internal sealed class ReadPlan
{
    /// <summary>Ranges are widened to whole pages: the kernel reads pages, and slivers would make tiny members.</summary>
    internal const long PageSize = 4096;

    /// <summary>Unread gaps shorter than this are prefetched with their neighbours: a member of its own costs more than its bytes.</summary>
    internal const long MergeGap = 64 * 1024;

    private readonly Dictionary<string, IReadOnlyList<FileRange>>? _reads;

    public ReadPlan(IReadOnlyDictionary<string, IReadOnlyList<FileRange>>? reads)
    {
        if (reads is null)
        {
            return;
        }
        _reads = new Dictionary<string, IReadOnlyList<FileRange>>(StringComparer.Ordinal);
        foreach (var (path, ranges) in reads)
        {
            var name = EntryNames.Normalize(path.TrimStart('/'), "read file");
            if (ranges.Count > 0)
            {
                _reads[name] = ranges;
            }
        }
    }

    /// <summary>Whether a prioritized regular file belongs before the landmark: without recorded reads, always.</summary>
    public bool WasRead(string canonicalName, long size) => _reads is null || size == 0 || _reads.ContainsKey(canonicalName);

    /// <summary>
    /// The chunks of a file of <paramref name="size"/> bytes, in order: each at most
    /// <paramref name="chunkSize"/>, with whether the workload read it (never, for a file without recorded reads).
    /// </summary>
    public IEnumerable<(long Length, bool Read)> Chunks(string canonicalName, long size, long chunkSize)
    {
        var runs = _reads is not null && _reads.TryGetValue(canonicalName, out var ranges)
            ? Runs(ranges, size)
            : [(size, false)];
        foreach (var (length, read) in runs)
        {
            for (long done = 0; done < length; done += chunkSize)
            {
                yield return (Math.Min(chunkSize, length - done), read);
            }
        }
    }

    /// <summary>The file cut into alternating unread and read runs covering [0, size).</summary>
    internal static List<(long Length, bool Read)> Runs(IReadOnlyList<FileRange> ranges, long size)
    {
        var merged = new List<(long Start, long End)>();
        foreach (var range in ranges.Where(r => r.Length > 0 && r.Offset < size).OrderBy(r => r.Offset))
        {
            var start = Math.Max(0, range.Offset / PageSize * PageSize);
            var end = Math.Min(size, (Math.Min(range.End, size) + PageSize - 1) / PageSize * PageSize);
            if (merged.Count > 0 && start - merged[^1].End < MergeGap)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, end));
            }
            else
            {
                merged.Add((start, end));
            }
        }
        var runs = new List<(long, bool)>();
        long position = 0;
        foreach (var (start, end) in merged)
        {
            // A gap at the start or end shorter than MergeGap is read too.
            var from = start < MergeGap ? 0 : start;
            var to = size - end < MergeGap ? size : end;
            if (from > position)
            {
                runs.Add((from - position, false));
            }
            if (to > Math.Max(from, position))
            {
                runs.Add((to - Math.Max(from, position), true));
            }
            position = Math.Max(position, to);
        }
        if (position < size)
        {
            runs.Add((size - position, false));
        }
        return runs;
    }
}
