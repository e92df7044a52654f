using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>
/// A validated view of a TOC: entries by canonical name, directory children, each file's chunks
/// with normalised sizes and compressed extents, and resolved hardlinks. Building it is where
/// hostile TOCs are rejected, so everything after it can trust the numbers.
/// </summary>
internal sealed class TocIndex
{
    /// <summary>No honest layer holds a file of a petabyte; larger values are hostile or corrupt.</summary>
    public const long MaxFileSize = 1L << 50;

    /// <summary>Deflate cannot expand input by more than about 1032:1, so a member cannot hold more than this per compressed byte.</summary>
    private const long MaxDeflateRatio = 1032;

    /// <summary>Mode bits directories get when the TOC names a path below them but not them (Go does the same).</summary>
    private const long ImplicitDirectoryMode = 0x1ed; // 0755

    private readonly Dictionary<string, TocEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _children = new(StringComparer.Ordinal);
    private readonly Dictionary<TocEntry, EstargzChunk[]> _chunks = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<TocEntry, TocEntry> _hardlinkTargets = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<TocEntry> _implicit = new(ReferenceEqualityComparer.Instance);
    private readonly List<Payload> _payloads = [];

    private TocIndex()
    {
    }

    public IReadOnlyDictionary<string, TocEntry> Entries => _entries;

    /// <summary>Blob offset of the member holding <c>.prefetch.landmark</c>, if the layer has one.</summary>
    public long? PrefetchLandmarkOffset { get; private set; }

    public bool HasNoPrefetchLandmark { get; private set; }

    /// <summary>Every payload (a reg's first chunk or a chunk entry) in TOC (= blob) order.</summary>
    public IReadOnlyList<Payload> Payloads => _payloads;

    public IReadOnlyList<string> ChildrenOf(string directory) =>
        _children.TryGetValue(directory, out var list) ? list : [];

    public EstargzChunk[] ChunksOf(TocEntry entry) =>
        _chunks.TryGetValue(Resolve(entry), out var chunks) ? chunks : [];

    public TocEntry Resolve(TocEntry entry) => _hardlinkTargets.TryGetValue(entry, out var target) ? target : entry;

    public static TocIndex Build(Toc toc, long tocOffset)
    {
        if (toc.Version != Toc.CurrentVersion)
        {
            throw new EstargzFormatException($"unsupported TOC version {toc.Version}; expected {Toc.CurrentVersion}");
        }
        var index = new TocIndex();
        index.AddImplicitDirectory(EntryNames.Root);
        index.AddEntries(toc);
        index.ComputeExtents(tocOffset);
        return index;
    }

    private void AddEntries(Toc toc)
    {
        var userNames = new Dictionary<long, string>();
        var groupNames = new Dictionary<long, string>();
        OpenFile? open = null;
        for (var i = 0; i < toc.Entries.Count; i++)
        {
            var entry = toc.Entries[i];
            var what = new EntryLabel(i, null);
            var name = EntryNames.Normalize(entry.Name, what);
            what = new EntryLabel(i, name);
            if (entry.Type == TocEntryTypes.Chunk)
            {
                if (open is null || open.Name != name)
                {
                    throw new EstargzFormatException($"{what} is a chunk that does not follow its file's entries");
                }
                open.Parts.Add(entry);
                continue;
            }
            if (open is not null)
            {
                CloseFile(open);
                open = null;
            }
            CheckCommonFields(entry, what);
            // Writers put owner names only on the first entry with an id (Go's nameIfChanged); fill them in.
            entry.UserName = FillOwnerName(userNames, entry.Uid, entry.UserName);
            entry.GroupName = FillOwnerName(groupNames, entry.Gid, entry.GroupName);
            open = AddEntry(entry, name, what);
        }
        if (open is not null)
        {
            CloseFile(open);
        }
    }

    private OpenFile? AddEntry(TocEntry entry, string name, EntryLabel what)
    {
        OpenFile? open = null;
        switch (entry.Type)
        {
            case TocEntryTypes.Directory:
                break;
            case TocEntryTypes.Regular:
                if (entry.Size < 0 || entry.Size > MaxFileSize)
                {
                    throw new EstargzFormatException($"{what} has an impossible size {entry.Size}");
                }
                if (entry.Size > 0)
                {
                    open = new OpenFile(entry, name);
                    open.Parts.Add(entry);
                }
                else
                {
                    _chunks[entry] = [];
                }
                break;
            case TocEntryTypes.Hardlink:
                AddHardlink(entry, what);
                break;
            case TocEntryTypes.Symlink:
                if (string.IsNullOrEmpty(entry.LinkName))
                {
                    throw new EstargzFormatException($"{what} is a symlink without a target");
                }
                break;
            case TocEntryTypes.CharDevice or TocEntryTypes.BlockDevice:
                if (entry.DevMajor < 0 || entry.DevMinor < 0)
                {
                    throw new EstargzFormatException($"{what} has negative device numbers");
                }
                break;
            case TocEntryTypes.Fifo:
                break;
            default:
                throw new EstargzFormatException($"{what} has unknown type '{EntryNames.Printable(entry.Type ?? "")}'");
        }
        Place(entry, name, what);
        if (name == EstargzConstants.PrefetchLandmark && open is not null)
        {
            PrefetchLandmarkOffset = entry.Offset;
        }
        if (name == EstargzConstants.NoPrefetchLandmark)
        {
            HasNoPrefetchLandmark = true;
        }
        return open;
    }

    private void Place(TocEntry entry, string name, EntryLabel what)
    {
        if (name == EntryNames.Root && entry.Type != TocEntryTypes.Directory)
        {
            throw new EstargzFormatException($"{what} names the layer root but is not a directory");
        }
        if (_entries.TryGetValue(name, out var existing))
        {
            if (!_implicit.Remove(existing))
            {
                throw new EstargzFormatException($"{what} is a duplicate of an earlier entry");
            }
            if (entry.Type != TocEntryTypes.Directory)
            {
                throw new EstargzFormatException($"{what} is not a directory, but earlier entries are inside it");
            }
            _entries[name] = entry;
            return;
        }
        var parent = EnsureDirectory(EntryNames.Parent(name), what);
        _entries[name] = entry;
        _children[parent].Add(name);
        if (entry.Type == TocEntryTypes.Directory)
        {
            _children[name] = [];
        }
    }

    private string EnsureDirectory(string directory, EntryLabel what)
    {
        if (_entries.TryGetValue(directory, out var existing))
        {
            if (existing.Type != TocEntryTypes.Directory)
            {
                throw new EstargzFormatException($"{what} is below '{EntryNames.Printable(directory)}', which is not a directory");
            }
            return directory;
        }
        var parent = EnsureDirectory(EntryNames.Parent(directory), what);
        AddImplicitDirectory(directory);
        _children[parent].Add(directory);
        return directory;
    }

    private void AddImplicitDirectory(string name)
    {
        var entry = new TocEntry { Name = name.Length == 0 ? "./" : name + "/", Type = TocEntryTypes.Directory, Mode = ImplicitDirectoryMode };
        _entries[name] = entry;
        _implicit.Add(entry);
        _children[name] = [];
    }

    private void AddHardlink(TocEntry entry, EntryLabel what)
    {
        if (string.IsNullOrEmpty(entry.LinkName))
        {
            throw new EstargzFormatException($"{what} is a hardlink without a target");
        }
        var targetName = EntryNames.Normalize(entry.LinkName, what with { Suffix = " link target" });
        // Like tar, a hardlink may only point back at an entry already seen; that also makes loops impossible.
        if (!_entries.TryGetValue(targetName, out var target) || _implicit.Contains(target))
        {
            throw new EstargzFormatException($"{what} is a hardlink to '{EntryNames.Printable(targetName)}', which no earlier entry defines");
        }
        target = Resolve(target);
        if (target.Type == TocEntryTypes.Directory)
        {
            throw new EstargzFormatException($"{what} is a hardlink to a directory");
        }
        _hardlinkTargets[entry] = target;
    }

    private static void CheckCommonFields(TocEntry entry, EntryLabel what)
    {
        if (entry.Mode < 0 || entry.Mode > uint.MaxValue || entry.Uid < 0 || entry.Uid > uint.MaxValue ||
            entry.Gid < 0 || entry.Gid > uint.MaxValue)
        {
            throw new EstargzFormatException($"{what} has an out-of-range mode, uid or gid");
        }
        if (entry.Digest is { Length: > 0 } digest && !Digest.TryParse(digest, out _))
        {
            throw new EstargzFormatException($"{what} has a malformed digest");
        }
    }

    private static string? FillOwnerName(Dictionary<long, string> names, long id, string? name)
    {
        if (!string.IsNullOrEmpty(name))
        {
            names[id] = name;
            return name;
        }
        return names.GetValueOrDefault(id);
    }

    /// <summary>Normalises chunk sizes (0 = to end of file) and checks the chunks tile the file exactly.</summary>
    private void CloseFile(OpenFile file)
    {
        var what = new FileLabel(file.Name, null);
        var size = file.Entry.Size;
        long expectedOffset = 0;
        for (var k = 0; k < file.Parts.Count; k++)
        {
            var part = file.Parts[k];
            if (part.ChunkOffset != expectedOffset)
            {
                throw new EstargzFormatException($"{what}: chunk {k} starts at {part.ChunkOffset}, expected {expectedOffset} (chunks must be contiguous and in order)");
            }
            if (part.ChunkSize < 0 || part.ChunkSize > MaxFileSize || part.InnerOffset < 0 || part.InnerOffset > MaxFileSize)
            {
                throw new EstargzFormatException($"{what}: chunk {k} has a negative or impossible size or inner offset");
            }
            var end = part.ChunkSize != 0 ? part.ChunkOffset + part.ChunkSize
                : k + 1 < file.Parts.Count ? file.Parts[k + 1].ChunkOffset : size;
            if (end <= part.ChunkOffset || end > size)
            {
                throw new EstargzFormatException($"{what}: chunk sizes do not add up to the file size {size}");
            }
            if (!Digest.TryParse(part.ChunkDigest, out var chunkDigest))
            {
                throw new EstargzFormatException($"{what}: chunk {k} has a missing or malformed chunkDigest");
            }
            _payloads.Add(new Payload(file.Entry, part, k, part.ChunkOffset, end - part.ChunkOffset, chunkDigest));
            expectedOffset = end;
        }
        if (expectedOffset != size)
        {
            throw new EstargzFormatException($"{what}: chunks cover {expectedOffset} bytes of a {size}-byte file");
        }
        _chunks[file.Entry] = new EstargzChunk[file.Parts.Count];
    }

    /// <summary>
    /// Members lie in TOC order, so payload offsets never decrease; payloads sharing a member
    /// (same offset) must not overlap; each member ends where the next one starts, or at the TOC.
    /// </summary>
    private void ComputeExtents(long tocOffset)
    {
        long previousOffset = -1;
        long previousInnerEnd = 0;
        var groupStart = 0;
        for (var i = 0; i <= _payloads.Count; i++)
        {
            var atEnd = i == _payloads.Count;
            var offset = atEnd ? tocOffset : _payloads[i].Entry.Offset;
            if (!atEnd)
            {
                var payload = _payloads[i];
                var what = new FileLabel(payload.File.Name, payload.ChunkIndex);
                if (offset < 0 || offset >= tocOffset)
                {
                    throw new EstargzFormatException($"{what}: offset {offset} is outside the payload area [0, {tocOffset})");
                }
                if (offset < previousOffset)
                {
                    throw new EstargzFormatException($"{what}: offset {offset} goes back before the previous payload's {previousOffset}");
                }
                if (offset == previousOffset && payload.Entry.InnerOffset < previousInnerEnd)
                {
                    throw new EstargzFormatException($"{what}: overlaps the previous payload in the same member");
                }
                previousInnerEnd = payload.Entry.InnerOffset + payload.Size;
            }
            if (offset != previousOffset && i > 0)
            {
                // Close the group of payloads that share the member at previousOffset.
                var length = offset - previousOffset;
                for (var g = groupStart; g < i; g++)
                {
                    SetChunk(_payloads[g], previousOffset, length);
                }
                groupStart = i;
            }
            previousOffset = offset;
        }
    }

    private void SetChunk(Payload payload, long memberOffset, long compressedLength)
    {
        var inner = payload.Entry.InnerOffset;
        if (inner + payload.Size > checked(compressedLength * MaxDeflateRatio))
        {
            throw new EstargzFormatException(
                $"file '{EntryNames.Printable(payload.File.Name)}' chunk {payload.ChunkIndex}: {inner + payload.Size} uncompressed bytes cannot come from a {compressedLength}-byte member");
        }
        _chunks[payload.File][payload.ChunkIndex] = new EstargzChunk(payload.FileOffset, payload.Size, memberOffset, compressedLength, inner, payload.Digest, payload.Entry.Prefetch);
    }

    /// <summary>Names an entry in error messages; formatted only when a message is built, so valid TOCs cost nothing.</summary>
    private readonly record struct EntryLabel(int Index, string? Name, string Suffix = "")
    {
        public override string ToString() =>
            (Name is null ? $"TOC entry {Index}" : $"TOC entry {Index} '{EntryNames.Printable(Name)}'") + Suffix;
    }

    private readonly record struct FileLabel(string Name, int? Chunk)
    {
        public override string ToString() =>
            $"file '{EntryNames.Printable(Name)}'" + (Chunk is { } chunk ? $" chunk {chunk}" : "");
    }

    internal sealed record Payload(TocEntry File, TocEntry Entry, int ChunkIndex, long FileOffset, long Size, Digest Digest);

    private sealed class OpenFile(TocEntry entry, string name)
    {
        public TocEntry Entry { get; } = entry;
        public string Name { get; } = name;
        public List<TocEntry> Parts { get; } = [];
    }
}
