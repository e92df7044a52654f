using Snapshotter.Estargz;

namespace Snapshotter.Fs.Fetching;

/// <summary>Members [<see cref="First"/>, <see cref="End"/>) of a <see cref="MemberTable"/>.</summary>
internal readonly record struct MemberRun(int First, int End);

/// <summary>A chunk and the path of a file it belongs to (for log lines that name the file).</summary>
internal readonly record struct MemberChunk(EstargzChunk Chunk, string Path);

/// <summary>
/// The layer's chunk members in blob order: what a merged Range request covers, what readahead
/// and background fetch walk through. Member i spans [<see cref="Offset"/>, <see cref="End"/>) of
/// the compressed blob and holds one chunk (Go's builder) or several (chunks sharing a member).
/// </summary>
internal sealed class MemberTable
{
    private readonly long[] _offsets;
    private readonly long[] _lengths;
    private readonly MemberChunk[][] _chunks;

    private MemberTable(long[] offsets, long[] lengths, MemberChunk[][] chunks)
    {
        _offsets = offsets;
        _lengths = lengths;
        _chunks = chunks;
        TotalCompressedBytes = lengths.Sum();
    }

    public int Count => _offsets.Length;

    /// <summary>Compressed bytes of all members: what a layer fetches to become fully local.</summary>
    public long TotalCompressedBytes { get; }

    public long Offset(int member) => _offsets[member];

    public long Length(int member) => _lengths[member];

    public long End(int member) => _offsets[member] + _lengths[member];

    public ReadOnlySpan<MemberChunk> Chunks(int member) => _chunks[member];

    /// <summary>The member starting at <paramref name="compressedOffset"/>, or -1.</summary>
    public int IndexOf(long compressedOffset)
    {
        var index = Array.BinarySearch(_offsets, compressedOffset);
        return index < 0 ? -1 : index;
    }

    /// <summary>How many members start before <paramref name="compressedOffset"/>: the prefetch region ends there.</summary>
    public int CountBefore(long compressedOffset)
    {
        var index = Array.BinarySearch(_offsets, compressedOffset);
        return index < 0 ? ~index : index;
    }

    public static MemberTable Build(IEnumerable<Node> files)
    {
        // Sorted once by offset (ties in the order the chunks came), then grouped: a tree keyed by
        // offset took about a third of building a mounted layer's tree.
        var all = new List<(long Offset, int Order, long Length, MemberChunk Chunk)>();
        foreach (var file in files)
        {
            foreach (var chunk in file.Chunks)
            {
                all.Add((chunk.CompressedOffset, all.Count, chunk.CompressedLength, new MemberChunk(chunk, file.Path)));
            }
        }
        all.Sort(static (a, b) => a.Offset != b.Offset ? a.Offset.CompareTo(b.Offset) : a.Order.CompareTo(b.Order));
        var offsets = new List<long>();
        var lengths = new List<long>();
        var chunks = new List<MemberChunk[]>();
        for (var start = 0; start < all.Count;)
        {
            var end = start;
            long length = 0;
            while (end < all.Count && all[end].Offset == all[start].Offset)
            {
                length = Math.Max(length, all[end].Length);
                end++;
            }
            var members = new MemberChunk[end - start];
            for (var i = start; i < end; i++)
            {
                members[i - start] = all[i].Chunk;
            }
            offsets.Add(all[start].Offset);
            lengths.Add(length);
            chunks.Add(members);
            start = end;
        }
        return new MemberTable([.. offsets], [.. lengths], [.. chunks]);
    }
}
