namespace Snapshotter.Estargz;

/// <summary>
/// Splits the arranged entries into gzip members following the eStargz rules: a new member
/// starts at every payload chunk of a regular file (unless min-chunk-size lets a small file share
/// the current one); tar headers and padding ride in whatever member is open. Produces the TOC
/// entries as it goes; member offsets are filled in when members are written.
/// </summary>
internal sealed class MemberPlanner(EstargzBuildOptions options, Toc toc)
{
    private readonly ReadPlan _reads = new(options.PrioritizedReads);
    private readonly Dictionary<long, string> _lastUserNames = [];
    private readonly Dictionary<long, string> _lastGroupNames = [];
    private MemberPlan _current = new();

    // Until the landmark: the entries here are the prioritized ones, which prefetch takes.
    private bool _inPrefetchRegion = true;

    public IEnumerable<MemberPlan> Plan(IReadOnlyList<EntryOrder.Slot> slots)
    {
        foreach (var slot in slots)
        {
            var completed = slot.Item is { } item ? AddItem(item) : AddLandmark(slot.LandmarkName!);
            foreach (var member in completed)
            {
                yield return member;
            }
        }
        if (!_current.IsEmpty)
        {
            yield return _current;
        }
    }

    private List<MemberPlan> AddItem(TarItem item)
    {
        var entry = new TocEntry
        {
            Name = item.Name,
            Type = item.Type,
            Mode = item.Mode,
            Uid = item.Uid,
            Gid = item.Gid,
            // Like Go's nameIfChanged: an owner name is written only when it differs from the last one for that id.
            UserName = NameIfChanged(_lastUserNames, item.Uid, item.UserName),
            GroupName = NameIfChanged(_lastGroupNames, item.Gid, item.GroupName),
            ModTime = TocEntry.FormatModTime(item.ModTime),
            Xattrs = item.Xattrs,
            LinkName = item.LinkName,
        };
        if (item.Type is TocEntryTypes.CharDevice or TocEntryTypes.BlockDevice)
        {
            entry.DevMajor = item.DevMajor;
            entry.DevMinor = item.DevMinor;
        }
        _current.AddSpoolRange(item.HeaderOffset, item.HeaderLength);
        if (item.Type != TocEntryTypes.Regular)
        {
            toc.Entries.Add(entry);
            return [];
        }
        entry.Size = item.Size;
        return AddPayload(entry, item.Size, _reads.Chunks(item.CanonicalName, item.Size, options.ChunkSize), landmark: false, (member, offset, length) => member.AddSpoolRange(item.DataOffset + offset, length));
    }

    private List<MemberPlan> AddLandmark(string name)
    {
        var header = new byte[TarHeader.BlockSize];
        TarHeader.WriteRegularFileHeader(header, name, 0x1a4, 1);
        _current.AddBytes(header);
        var entry = new TocEntry { Name = name, Type = TocEntryTypes.Regular, Size = 1, Mode = 0x1a4 };
        var completed = AddPayload(entry, 1, [(1, false)], landmark: true, (member, _, _) => member.AddBytes([EstargzConstants.LandmarkContent]));
        _inPrefetchRegion = false;
        return completed;
    }

    private List<MemberPlan> AddPayload(TocEntry entry, long size, IEnumerable<(long Length, bool Read)> chunks, bool landmark, Action<MemberPlan, long, long> addData)
    {
        toc.Entries.Add(entry);
        var completed = new List<MemberPlan>();
        if (size == 0)
        {
            entry.Digest = Snapshotter.Oci.Digest.Compute([]).Value;
            return completed;
        }
        var pieces = chunks.ToList();
        // Prefetch takes the marked chunks of a file that has marks, and every chunk of one that has none.
        var marked = pieces.Exists(p => p.Read);
        var file = new FileDigest(entry, pieces.Count);
        long written = 0;
        var chunkEntry = entry;
        foreach (var (length, read) in pieces)
        {
            var prefetched = _inPrefetchRegion && !landmark && (read || !marked);
            if (!SharesCurrentMember(size, length, prefetched, landmark))
            {
                if (!_current.IsEmpty)
                {
                    completed.Add(_current);
                }
                _current = new MemberPlan();
            }
            // As in Go: the size is written for every chunk but a last one shorter than the chunk size, whose 0 means "to the end".
            var last = written + length == size;
            chunkEntry.ChunkSize = last && length != options.ChunkSize ? 0 : length;
            chunkEntry.ChunkOffset = written;
            chunkEntry.Prefetch = read;
            _current.BeginPayload(chunkEntry, file, length, prefetched);
            addData(_current, written, length);
            written += length;
            if (!last)
            {
                chunkEntry = new TocEntry { Name = entry.Name, Type = TocEntryTypes.Chunk };
                toc.Entries.Add(chunkEntry);
            }
        }
        _current.AddBytes(new byte[TarHeader.PaddedSize(size) - size]);
        return completed;
    }

    /// <summary>
    /// Whether the next chunk joins the open member. The landmark never does: its offset is where
    /// the prefetch region ends. With <see cref="EstargzBuildOptions.PrefetchGroupSize"/>, a chunk
    /// prefetch takes joins a member of such chunks while the group stays within the size, and no
    /// other chunk joins them. Otherwise a small file joins the open member when min-chunk-size is
    /// on and that member already holds file data but fewer than min-chunk-size bytes of it; files
    /// of a chunk or more always start their own members, so every large read still inflates only what it needs.
    /// </summary>
    private bool SharesCurrentMember(long fileSize, long chunkLength, bool prefetched, bool landmark)
    {
        if (landmark || _current.PayloadBytes == 0)
        {
            return false;
        }
        if (options.PrefetchGroupSize > 0 && (prefetched || _current.OnlyPrefetched))
        {
            return prefetched && _current.OnlyPrefetched && _current.PayloadBytes + chunkLength <= options.PrefetchGroupSize;
        }
        return options.MinChunkSize > 0 && fileSize < options.MinChunkSize && fileSize <= options.ChunkSize &&
            _current.PayloadBytes < options.MinChunkSize;
    }

    private static string? NameIfChanged(Dictionary<long, string> last, long id, string? name)
    {
        if (string.IsNullOrEmpty(name) || (last.TryGetValue(id, out var previous) && previous == name))
        {
            return null;
        }
        last[id] = name;
        return name;
    }
}
