using System.Collections.Concurrent;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse.Tests;

/// <summary>
/// A small read-only in-memory tree implementing <see cref="IFuseFileSystem"/> for the tests:
/// directories, files, symlinks, xattrs, files served from a backing file (passthrough), and
/// hooks to make reads slow, gated or failing.
/// </summary>
internal sealed class TestFileSystem : IFuseFileSystem
{
    public const uint DirMode = 0x4000 | 0x1ED; // S_IFDIR | 0755
    public const uint FileMode = 0x8000 | 0x1A4; // S_IFREG | 0644
    public const uint LinkMode = 0xA000 | 0x1FF; // S_IFLNK | 0777

    private readonly ConcurrentDictionary<ulong, Node> _nodes = new();
    private readonly ConcurrentDictionary<ulong, long> _lookups = new();
    private long _nextId = 1;
    private long _nextHandle = 100;

    /// <summary>Flags every file open answers with (KEEP_CACHE unless a test wants DIRECT_IO).</summary>
    public FuseOpenFlags FileOpenFlags { get; set; } = FuseOpenFlags.KeepCache;

    public TestFileSystem()
    {
        Root = new Node(1, 1, "", DirMode);
        _nodes[1] = Root;
    }

    public Node Root { get; }

    /// <summary>Replaces reads: (node, offset, buffer, token) → count.</summary>
    public Func<Node, long, Memory<byte>, CancellationToken, ValueTask<int>>? ReadHook { get; set; }

    /// <summary>Names whose LOOKUP throws, to test the EIO path.</summary>
    public HashSet<string> ThrowOnLookup { get; } = [];

    public ConcurrentDictionary<ulong, long> ReadCalls { get; } = new();

    /// <summary>Successful LOOKUPs per node, never decreased by FORGET.</summary>
    public ConcurrentDictionary<ulong, long> LookupCalls { get; } = new();

    public ConcurrentDictionary<ulong, ulong> Released { get; } = new();

    public int OpenDirectories;

    /// <summary>OPENDIRs that reached the file system.</summary>
    public int OpenDirectoryCalls;

    public bool DirectoriesNeedNoOpen { get; set; }

    public bool FilesNeedNoOpen { get; set; }

    /// <summary>OPENs of files that reached the file system.</summary>
    public int OpenCalls;

    public long LookupCount(ulong nodeId) => _lookups.GetValueOrDefault(nodeId);

    public Node AddDirectory(Node parent, string name) => Add(parent, name, DirMode, null, null, null);

    public Node AddFile(Node parent, string name, byte[] content) => Add(parent, name, FileMode, content, null, null);

    public Node AddSymlink(Node parent, string name, string target) => Add(parent, name, LinkMode, null, target, null);

    /// <summary>A file whose bytes the kernel reads from <paramref name="backingPath"/> (passthrough).</summary>
    public Node AddBackedFile(Node parent, string name, string backingPath) =>
        Add(parent, name, FileMode, File.ReadAllBytes(backingPath), null, backingPath);

    private Node Add(Node parent, string name, uint mode, byte[]? content, string? target, string? backing)
    {
        var node = new Node((ulong)Interlocked.Increment(ref _nextId), parent.Id, name, mode)
        {
            Content = content ?? [],
            Target = target,
            BackingPath = backing,
        };
        _nodes[node.Id] = node;
        parent.Children[name] = node;
        if ((mode & 0xF000) == 0x4000)
        {
            Interlocked.Increment(ref parent.SubdirectoryCount);
        }
        return node;
    }

    public Node Get(ulong id) => _nodes[id];

    public int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseEntry entry)
    {
        entry = default;
        if (!_nodes.TryGetValue(parent, out var dir) || !dir.IsDirectory)
        {
            return Errno.ENOTDIR;
        }
        var text = Encoding.UTF8.GetString(name);
        if (ThrowOnLookup.Contains(text))
        {
            throw new InvalidOperationException($"lookup of {text} fails on purpose");
        }
        if (!dir.Children.TryGetValue(text, out var child))
        {
            return Errno.ENOENT;
        }
        entry = EntryOf(child);
        _lookups.AddOrUpdate(child.Id, 1, (_, n) => n + 1);
        LookupCalls.AddOrUpdate(child.Id, 1, (_, n) => n + 1);
        return 0;
    }

    public void Forget(ulong nodeId, ulong lookupCount) =>
        _lookups.AddOrUpdate(nodeId, -(long)lookupCount, (_, n) => n - (long)lookupCount);

    public int GetAttr(ulong nodeId, out FuseAttr attr, out TimeSpan validFor)
    {
        validFor = TimeSpan.FromSeconds(1);
        if (!_nodes.TryGetValue(nodeId, out var node))
        {
            attr = default;
            return Errno.ENOENT;
        }
        attr = node.Attr;
        return 0;
    }

    public int ReadLink(ulong nodeId, Span<byte> target, out int length)
    {
        length = 0;
        if (!_nodes.TryGetValue(nodeId, out var node) || node.Target is null)
        {
            return Errno.EINVAL;
        }
        length = Encoding.UTF8.GetBytes(node.Target, target);
        return 0;
    }

    public int Open(ulong nodeId, int flags, out FuseOpenResult result)
    {
        result = default;
        if (!_nodes.TryGetValue(nodeId, out var node))
        {
            return Errno.ENOENT;
        }
        if (node.IsDirectory)
        {
            return Errno.EISDIR;
        }
        Interlocked.Increment(ref OpenCalls);
        var handle = (ulong)Interlocked.Increment(ref _nextHandle);
        SafeFileHandle? backing = node.BackingPath is null ? null : File.OpenHandle(node.BackingPath);
        result = new FuseOpenResult(handle, FileOpenFlags, backing);
        return 0;
    }

    public ValueTask<int> ReadAsync(ulong nodeId, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ReadCalls.AddOrUpdate(nodeId, 1, (_, n) => n + 1);
        var node = _nodes[nodeId];
        if (ReadHook is { } hook)
        {
            return hook(node, offset, buffer, cancellationToken);
        }
        return ValueTask.FromResult(node.CopyTo(offset, buffer.Span));
    }

    public int Release(ulong nodeId, ulong handle)
    {
        Released[handle] = nodeId;
        return 0;
    }

    public int OpenDirectory(ulong nodeId, out ulong handle, out FuseOpenFlags flags)
    {
        handle = (ulong)Interlocked.Increment(ref _nextHandle);
        flags = FuseOpenFlags.CacheDir;
        if (!_nodes.TryGetValue(nodeId, out var node) || !node.IsDirectory)
        {
            return Errno.ENOTDIR;
        }
        Interlocked.Increment(ref OpenDirectories);
        Interlocked.Increment(ref OpenDirectoryCalls);
        return 0;
    }

    public int ReadDirectory(ulong nodeId, ulong handle, long offset, ref FuseDirectoryWriter writer)
    {
        var dir = _nodes[nodeId];
        var entries = new List<(string Name, Node Node)> { (".", dir), ("..", _nodes[dir.ParentId]) };
        entries.AddRange(dir.Children.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => (c.Key, c.Value)));
        for (var i = (int)offset; i < entries.Count; i++)
        {
            var (name, node) = entries[i];
            var entry = EntryOf(node);
            var special = name is "." or "..";
            if (writer.IsPlus && special)
            {
                entry.NodeId = 0;
            }
            if (!writer.TryAdd(Encoding.UTF8.GetBytes(name), in entry, i + 1))
            {
                break;
            }
            if (writer.IsPlus && !special)
            {
                _lookups.AddOrUpdate(node.Id, 1, (_, n) => n + 1);
            }
        }
        return 0;
    }

    public int ReleaseDirectory(ulong nodeId, ulong handle)
    {
        Interlocked.Decrement(ref OpenDirectories);
        return 0;
    }

    public int StatFs(ulong nodeId, out FuseStatFs stat)
    {
        stat = new FuseStatFs { Blocks = 1000, BlocksFree = 0, BlocksAvailable = 0, Files = (ulong)_nodes.Count, BlockSize = 4096, NameLength = 255, FragmentSize = 4096 };
        return 0;
    }

    public int GetXattr(ulong nodeId, ReadOnlySpan<byte> name, Span<byte> value, out int length)
    {
        length = 0;
        if (!_nodes[nodeId].Xattrs.TryGetValue(Encoding.UTF8.GetString(name), out var bytes))
        {
            return Errno.ENODATA;
        }
        length = bytes.Length;
        bytes.AsSpan(0, Math.Min(bytes.Length, value.Length)).CopyTo(value);
        return 0;
    }

    public int ListXattr(ulong nodeId, Span<byte> names, out int length)
    {
        var list = string.Concat(_nodes[nodeId].Xattrs.Keys.Order(StringComparer.Ordinal).Select(k => k + "\0"));
        var bytes = Encoding.UTF8.GetBytes(list);
        length = bytes.Length;
        bytes.AsSpan(0, Math.Min(bytes.Length, names.Length)).CopyTo(names);
        return 0;
    }

    public int Access(ulong nodeId, int mask) => (mask & 2) != 0 ? Errno.EROFS : 0;

    public int Seek(ulong nodeId, ulong handle, long offset, int whence, out long result)
    {
        var size = _nodes[nodeId].Content.LongLength;
        result = 0;
        if (offset >= size)
        {
            return Errno.ENXIO;
        }
        result = whence == 3 ? offset : size; // SEEK_DATA: data everywhere; SEEK_HOLE: at the end
        return 0;
    }

    private static FuseEntry EntryOf(Node node)
    {
        var entry = new FuseEntry { NodeId = node.Id, Generation = 1, Attr = node.Attr };
        entry.SetTimeouts(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return entry;
    }

    internal sealed class Node(ulong id, ulong parentId, string name, uint mode)
    {
        public ulong Id { get; } = id;
        public ulong ParentId { get; } = parentId;
        public string Name { get; } = name;
        public uint Mode { get; } = mode;
        public byte[] Content { get; set; } = [];
        public string? Target { get; init; }
        public string? BackingPath { get; init; }
        public ConcurrentDictionary<string, Node> Children { get; } = new();
        public ConcurrentDictionary<string, byte[]> Xattrs { get; } = new();
        public int SubdirectoryCount;

        public bool IsDirectory => (Mode & 0xF000) == 0x4000;

        public FuseAttr Attr => new()
        {
            Ino = Id,
            Size = Target is not null ? (ulong)Encoding.UTF8.GetByteCount(Target) : (ulong)Content.LongLength,
            Blocks = ((ulong)Content.LongLength + 511) / 512,
            ATime = 1_700_000_000,
            MTime = 1_700_000_000,
            CTime = 1_700_000_000,
            Mode = Mode,
            NLink = IsDirectory ? 2 + (uint)SubdirectoryCount : 1,
            BlkSize = 4096,
        };

        public int CopyTo(long offset, Span<byte> buffer)
        {
            if (offset >= Content.LongLength)
            {
                return 0;
            }
            var count = (int)Math.Min(buffer.Length, Content.LongLength - offset);
            Content.AsSpan((int)offset, count).CopyTo(buffer);
            return count;
        }
    }
}
