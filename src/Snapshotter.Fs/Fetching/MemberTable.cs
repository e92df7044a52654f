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
        var byOffset = new SortedDictionary<long, (long Length, List<MemberChunk> Chunks)>();
        foreach (var file in files)
        {
            foreach (var chunk in file.Chunks)
            {
                if (!byOffset.TryGetValue(chunk.CompressedOffset, out var member))
                {
                    member = (chunk.CompressedLength, []);
                }
                member.Chunks.Add(new MemberChunk(chunk, file.Path));
                byOffset[chunk.CompressedOffset] = (Math.Max(member.Length, chunk.CompressedLength), member.Chunks);
            }
        }
        var offsets = new long[byOffset.Count];
        var lengths = new long[byOffset.Count];
        var chunks = new MemberChunk[byOffset.Count][];
        var i = 0;
        foreach (var (offset, member) in byOffset)
        {
            offsets[i] = offset;
            lengths[i] = member.Length;
            chunks[i] = [.. member.Chunks];
            i++;
        }
        return new MemberTable(offsets, lengths, chunks);
    }
}
