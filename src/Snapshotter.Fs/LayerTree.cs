using System.Text;
using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;

namespace Snapshotter.Fs;

/// <summary>What a node is, beyond its mode: the layer's own entries, or the hidden status directory and its files.</summary>
internal enum NodeKind
{
    Entry,
    StatusDirectory,
    StatusFile,
    AccessLog,
    ReadLog,
}

/// <summary>One name in a directory: raw name bytes and the node (several names may share one node: hardlinks).</summary>
internal readonly record struct DirectoryEntry(byte[] Name, Node Node);

internal readonly record struct Xattr(byte[] Name, byte[] Value);

/// <summary>One inode of the layer. Immutable once the tree is built.</summary>
internal sealed class Node
{
    public const uint TypeMask = 0xF000;
    public const uint Directory = 0x4000;
    public const uint Regular = 0x8000;
    public const uint Symlink = 0xA000;
    public const uint CharDevice = 0x2000;
    public const uint BlockDevice = 0x6000;
    public const uint Fifo = 0x1000;

    public ulong Ino { get; set; }
    public NodeKind Kind { get; init; }
    public uint Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public uint RDev { get; init; }
    public uint NLink { get; set; }
    public long Size { get; init; }
    public long MTime { get; init; }

    /// <summary>The path of the first name (canonical, for logs and errors).</summary>
    public string Path { get; init; } = "";

    /// <summary>The containing directory (directories have exactly one).</summary>
    public Node? Parent { get; set; }

    /// <summary>Directory entries sorted by name bytes (ordinal), so lookups are binary searches and readdir offsets are stable.</summary>
    public DirectoryEntry[] Children { get; set; } = [];

    public byte[] LinkTarget { get; init; } = [];

    public Xattr[] Xattrs { get; set; } = [];

    /// <summary>Every xattr name followed by a NUL byte, as LISTXATTR answers.</summary>
    public byte[] XattrNames { get; set; } = [];

    /// <summary>The chunks of a regular file, ordered by file offset, tiling [0, Size).</summary>
    public IReadOnlyList<EstargzChunk> Chunks { get; init; } = [];

    /// <summary>The sha256 digest of the whole content (regular files), when the TOC gives one.</summary>
    public string? ContentDigest { get; init; }

    public bool IsDirectory => (Mode & TypeMask) == Directory;

    public bool IsRegular => (Mode & TypeMask) == Regular;

    /// <summary>This node's attributes, answered under <paramref name="ino"/> with <paramref name="size"/> bytes (a generated file's instance differs in both).</summary>
    public void FillAttr(ref Fuse.Protocol.FuseAttr attr, ulong ino, long size)
    {
        attr.Ino = ino;
        attr.Size = (ulong)size;
        attr.Blocks = (ulong)((size + 511) / 512);
        attr.ATime = attr.MTime = attr.CTime = (ulong)MTime;
        attr.Mode = Mode;
        attr.NLink = NLink;
        attr.Uid = Uid;
        attr.Gid = Gid;
        attr.RDev = RDev;
        attr.BlkSize = LayerTree.BlockSize;
    }

    /// <summary>Finds a child by raw name bytes; no allocation.</summary>
    public Node? FindChild(ReadOnlySpan<byte> name)
    {
        var children = Children;
        int lo = 0, hi = children.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var order = name.SequenceCompareTo(children[mid].Name);
            if (order == 0)
            {
                return children[mid].Node;
            }
            if (order < 0)
            {
                hi = mid - 1;
            }
            else
            {
                lo = mid + 1;
            }
        }
        return null;
    }

    /// <summary>The index of the chunk holding <paramref name="offset"/> (0 ≤ offset &lt; Size).</summary>
    public int ChunkIndexAt(long offset)
    {
        var chunks = Chunks;
        int lo = 0, hi = chunks.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) >>> 1;
            if (chunks[mid].FileOffset <= offset)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return lo;
    }
}

/// <summary>
/// The inode tree of one layer, built once from an opened <see cref="EstargzReader"/>. Inode
/// numbers are given in the order of a deterministic walk (each directory's names sorted by their
/// bytes, children numbered before grandchildren), so they are the same on every mount of the
/// same layer; hardlinks share one node. Whiteouts become what overlayfs expects of a lower layer:
/// <c>.wh.x</c> a 0/0 character device <c>x</c>, <c>.wh..wh..opq</c> the xattr
/// <c>trusted.overlay.opaque=y</c> on its directory. Nothing outside the TOC's own entries is
/// ever referenced; the walk is iterative and visits each directory once, so no TOC can make it
/// recurse, loop or escape.
/// </summary>
internal sealed class LayerTree
{
    public const ulong RootIno = 1;
    public const string StatusDirectoryName = ".stargz-snapshotter";
    public const string StatusFileName = "layer.json";
    public const string AccessLogName = "accessed.txt";
    public const string ReadLogName = "reads.json";
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private const uint DefaultBlockSize = 4096;

    private readonly Node[] _byIno;

    private LayerTree(Node root, Node[] byIno, MemberTable members, long totalFileBytes, Node statusDirectory, Node statusFile)
    {
        Root = root;
        _byIno = byIno;
        Members = members;
        TotalFileBytes = totalFileBytes;
        StatusDirectory = statusDirectory;
        StatusFile = statusFile;
        HasXattrs = byIno.Any(node => node is not null && node.Xattrs.Length > 0);
    }

    /// <summary>Whether any entry has an extended attribute (from the TOC, or the opaque marker of a whiteout).</summary>
    public bool HasXattrs { get; }

    public Node Root { get; }

    /// <summary>The hidden status directory: found by lookup in the root, never listed.</summary>
    public Node StatusDirectory { get; }

    public Node StatusFile { get; }

    /// <summary>Every chunk member of the layer's files, in blob order.</summary>
    public MemberTable Members { get; }

    public long TotalFileBytes { get; }

    public int Count => _byIno.Length - 1;

    public static uint BlockSize => DefaultBlockSize;

    public Node? Get(ulong ino) => ino > 0 && ino < (ulong)_byIno.Length ? _byIno[ino] : null;

    public static LayerTree Build(EstargzReader reader, string opaqueXattr = "trusted.overlay.opaque")
    {
        ArgumentNullException.ThrowIfNull(reader);
        var nodes = new List<Node> { null! };
        var byEntry = new Dictionary<TocEntry, Node>(ReferenceEqualityComparer.Instance);
        long totalBytes = 0;
        var opaqueName = Encoding.UTF8.GetBytes(opaqueXattr);

        Node NodeFor(TocEntry entry, string path)
        {
            var target = reader.ResolveHardlink(entry);
            if (byEntry.TryGetValue(target, out var existing))
            {
                return existing;
            }
            var node = CreateNode(reader, target, path);
            node.Ino = (ulong)nodes.Count;
            nodes.Add(node);
            byEntry[target] = node;
            if (node.IsRegular)
            {
                totalBytes += node.Size;
            }
            return node;
        }

        var root = NodeFor(reader.Entries[""], "");
        root.Parent = root;
        var pending = new Stack<(Node Directory, string Path)>();
        pending.Push((root, ""));
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        while (pending.TryPop(out var item))
        {
            var (directory, path) = item;
            if (!visited.Add(directory))
            {
                continue;
            }
            var opaque = false;
            var real = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var whiteouts = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var childPath in reader.GetChildren(path))
            {
                var name = BaseName(childPath);
                if (path.Length == 0 && name is EstargzConstants.PrefetchLandmark or EstargzConstants.NoPrefetchLandmark)
                {
                    continue; // eStargz bookkeeping, not part of the layer's file system
                }
                if (name == OpaqueMarker)
                {
                    opaque = true;
                }
                else if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                {
                    if (name[WhiteoutPrefix.Length..] is "" or "." or "..")
                    {
                        continue; // would hide the directory itself or its parent: never a name in a listing
                    }
                    whiteouts[name[WhiteoutPrefix.Length..]] = childPath;
                }
                else
                {
                    real[name] = childPath;
                }
            }
            var entries = new List<DirectoryEntry>(real.Count + whiteouts.Count);
            var subdirectories = new List<(Node, string)>();
            foreach (var (name, childPath) in real)
            {
                var child = NodeFor(reader.Entries[childPath], childPath);
                if (child.IsDirectory)
                {
                    if (child.Parent is not null)
                    {
                        continue; // a directory has one name; the reader never yields two, but never trust it to
                    }
                    child.Parent = directory;
                    subdirectories.Add((child, childPath));
                }
                entries.Add(new DirectoryEntry(Encoding.UTF8.GetBytes(name), child));
            }
            foreach (var (name, whiteoutPath) in whiteouts)
            {
                if (real.ContainsKey(name))
                {
                    continue; // the layer's own entry wins over a whiteout of the same name
                }
                var node = CreateWhiteout(reader.Entries[whiteoutPath], whiteoutPath);
                node.Ino = (ulong)nodes.Count;
                nodes.Add(node);
                entries.Add(new DirectoryEntry(Encoding.UTF8.GetBytes(name), node));
            }
            entries.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
            directory.Children = [.. entries];
            if (opaque)
            {
                directory.Xattrs = [.. directory.Xattrs.Where(x => !x.Name.AsSpan().SequenceEqual(opaqueName)), new Xattr(opaqueName, "y"u8.ToArray())];
                SortXattrs(directory);
            }
            // Push in reverse so directories are numbered in sorted order, depth first.
            for (var i = subdirectories.Count - 1; i >= 0; i--)
            {
                pending.Push(subdirectories[i]);
            }
        }

        CountLinks(root);

        var statusDirectory = new Node
        {
            Kind = NodeKind.StatusDirectory,
            Mode = Node.Directory | 0x16d, // 0555
            Path = StatusDirectoryName,
            Parent = root,
            NLink = 2,
            Ino = (ulong)nodes.Count,
        };
        nodes.Add(statusDirectory);
        Node StatusFileNode(NodeKind kind, string name)
        {
            var file = new Node
            {
                Kind = kind,
                Mode = Node.Regular | 0x124, // 0444
                Path = StatusDirectoryName + "/" + name,
                NLink = 1,
                Ino = (ulong)nodes.Count,
            };
            nodes.Add(file);
            return file;
        }
        var statusFile = StatusFileNode(NodeKind.StatusFile, StatusFileName);
        var accessLog = StatusFileNode(NodeKind.AccessLog, AccessLogName);
        var readLog = StatusFileNode(NodeKind.ReadLog, ReadLogName);
        // Sorted by name bytes, as lookups expect.
        statusDirectory.Children =
        [
            new DirectoryEntry(Encoding.UTF8.GetBytes(AccessLogName), accessLog),
            new DirectoryEntry(Encoding.UTF8.GetBytes(StatusFileName), statusFile),
            new DirectoryEntry(Encoding.UTF8.GetBytes(ReadLogName), readLog),
        ];

        var members = MemberTable.Build(nodes.Skip(1).Where(n => n.IsRegular && n.Kind == NodeKind.Entry));
        return new LayerTree(root, [.. nodes], members, totalBytes, statusDirectory, statusFile);
    }

    private static void CountLinks(Node root)
    {
        root.NLink = 2;
        var pending = new Stack<Node>();
        pending.Push(root);
        while (pending.TryPop(out var directory))
        {
            foreach (var (_, child) in directory.Children)
            {
                if (child.IsDirectory)
                {
                    child.NLink = 2;
                    directory.NLink++;
                    pending.Push(child);
                }
                else
                {
                    child.NLink++;
                }
            }
        }
    }

    private static Node CreateNode(EstargzReader reader, TocEntry entry, string path)
    {
        var perm = (uint)(entry.Mode & 0xFFF);
        var mtime = entry.ModificationTime?.ToUnixTimeSeconds() ?? 0;
        uint type;
        long size = 0;
        uint rdev = 0;
        var link = "";
        IReadOnlyList<EstargzChunk> chunks = [];
        switch (entry.Type)
        {
            case TocEntryTypes.Directory:
                type = Node.Directory;
                size = DefaultBlockSize;
                break;
            case TocEntryTypes.Regular:
                type = Node.Regular;
                size = entry.Size;
                chunks = reader.GetChunks(entry);
                break;
            case TocEntryTypes.Symlink:
                type = Node.Symlink;
                link = entry.LinkName ?? "";
                size = Encoding.UTF8.GetByteCount(link);
                break;
            case TocEntryTypes.CharDevice:
                type = Node.CharDevice;
                rdev = EncodeDevice(entry.DevMajor, entry.DevMinor);
                break;
            case TocEntryTypes.BlockDevice:
                type = Node.BlockDevice;
                rdev = EncodeDevice(entry.DevMajor, entry.DevMinor);
                break;
            case TocEntryTypes.Fifo:
                type = Node.Fifo;
                break;
            default:
                throw new EstargzFormatException($"entry '{path}' has unsupported type '{entry.Type}'");
        }
        var node = new Node
        {
            Kind = NodeKind.Entry,
            Mode = type | perm,
            Uid = (uint)entry.Uid,
            Gid = (uint)entry.Gid,
            RDev = rdev,
            Size = size,
            MTime = mtime,
            Path = path,
            LinkTarget = Encoding.UTF8.GetBytes(link),
            Chunks = chunks,
            ContentDigest = entry.Digest,
        };
        if (entry.Xattrs is { Count: > 0 } xattrs)
        {
            node.Xattrs = [.. xattrs.Select(p => new Xattr(Encoding.UTF8.GetBytes(p.Key), p.Value ?? []))];
            SortXattrs(node);
        }
        return node;
    }

    private static Node CreateWhiteout(TocEntry entry, string path) => new()
    {
        Kind = NodeKind.Entry,
        Mode = Node.CharDevice,
        Uid = (uint)entry.Uid,
        Gid = (uint)entry.Gid,
        RDev = 0,
        MTime = entry.ModificationTime?.ToUnixTimeSeconds() ?? 0,
        Path = path,
    };

    private static void SortXattrs(Node node)
    {
        Array.Sort(node.Xattrs, static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        var names = new List<byte>();
        foreach (var xattr in node.Xattrs)
        {
            names.AddRange(xattr.Name);
            names.Add(0);
        }
        node.XattrNames = [.. names];
    }

    /// <summary>Linux new_encode_dev: what FUSE's rdev field carries.</summary>
    private static uint EncodeDevice(int major, int minor) =>
        ((uint)minor & 0xff) | (((uint)major & 0xfff) << 8) | (((uint)minor & ~0xffu) << 12);

    private static string BaseName(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? path : path[(slash + 1)..];
    }
}
