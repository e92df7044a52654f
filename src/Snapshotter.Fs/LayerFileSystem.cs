using Microsoft.Extensions.Logging;
using Snapshotter.Estargz;
using Snapshotter.Fuse;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fs;

/// <summary>
/// The FUSE node logic of one read-only eStargz layer: answers from the immutable
/// <see cref="LayerTree"/> (no allocation on lookup, getattr and readdir) and reads file content
/// through the <see cref="ChunkReader"/>. Attributes and names are cached by the kernel for
/// <see cref="LayerMountOptions.AttributeTimeout"/> and file pages kept across opens
/// (FOPEN_KEEP_CACHE): the layer never changes. Without passthrough, reads need no handle, so
/// the kernel may skip OPEN and RELEASE altogether (<see cref="FilesNeedNoOpen"/>); the
/// generated files of <c>.stargz-snapshotter/</c> stay fresh by being a new node at each lookup
/// (<see cref="GeneratedFiles"/>).
/// </summary>
internal sealed class LayerFileSystem : IFuseFileSystem
{
    private const int RegularHandle = 1;
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int WriteAccess = 2; // W_OK
    private const int AccessModeMask = 3; // O_ACCMODE

    private readonly LayerTree _tree;
    private readonly ChunkReader _chunks;
    private readonly IBlob _blob;
    private readonly LayerStatistics _statistics;
    private readonly TimeSpan _timeout;
    private readonly Passthrough? _passthrough;
    private readonly AccessRecorder _accesses;
    private readonly ReadRecorder _reads = new();
    private readonly GeneratedFiles _generated;
    private readonly PageCacheFill? _fill;

    public LayerFileSystem(LayerTree tree, ChunkReader chunks, IBlob blob, LayerStatistics statistics, TimeSpan timeout, Passthrough? passthrough, PageCacheFill? fill = null)
    {
        _fill = fill;
        _tree = tree;
        _chunks = chunks;
        _blob = blob;
        _statistics = statistics;
        _timeout = timeout;
        _passthrough = passthrough;
        _accesses = new AccessRecorder(tree.Count);
        _generated = new GeneratedFiles(_accesses, _reads, blob, statistics, timeout);
    }

    /// <summary>Instances of generated files the kernel still holds (tests).</summary>
    internal int GeneratedInstances => _generated.Count;

    /// <summary>
    /// Reads need no handle and pages may always be kept, unless passthrough must hand the kernel
    /// a backing file at open: then a zero-message open (no OPEN, RELEASE or FLUSH round trip for
    /// each file opened; half the requests of a Python start) is allowed.
    /// </summary>
    public bool FilesNeedNoOpen => _passthrough is null;

    public int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseEntry entry)
    {
        entry = default;
        var directory = _tree.Get(parent);
        if (directory is null)
        {
            return Errno.ENOENT;
        }
        if (!directory.IsDirectory)
        {
            return Errno.ENOTDIR;
        }
        var child = directory.FindChild(name);
        if (child is null && directory == _tree.Root && name.SequenceEqual(StatusDirectoryBytes))
        {
            child = _tree.StatusDirectory;
        }
        if (child is null)
        {
            // The layer never changes, so a missing name stays missing: the kernel may cache that
            // as long as it caches names. A start asks for many names in layers that lack them
            // (overlayfs looks in every lower layer above the one that has a file).
            entry.SetTimeouts(_timeout, TimeSpan.Zero);
            return 0;
        }
        if (GeneratedFiles.IsGenerated(child))
        {
            _generated.Lookup(child, ref entry);
            return 0;
        }
        _accesses.Record(child);
        _fill?.Offer(child);
        FillEntry(child, ref entry);
        return 0;
    }

    /// <summary>UTF-8 of <see cref="LayerTree.StatusDirectoryName"/>.</summary>
    private static ReadOnlySpan<byte> StatusDirectoryBytes => ".stargz-snapshotter"u8;

    /// <summary>Tree nodes live as long as the mount, so only instances of generated files are forgotten.</summary>
    public void Forget(ulong nodeId, ulong lookupCount) => _generated.Forget(nodeId);

    public int GetAttr(ulong nodeId, out FuseAttr attr, out TimeSpan validFor)
    {
        attr = default;
        validFor = _timeout;
        if (_generated.TryGet(nodeId, out var instance))
        {
            GeneratedFiles.FillAttr(instance, ref attr);
            return 0;
        }
        var node = _tree.Get(nodeId);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        FillAttr(node, ref attr);
        return 0;
    }

    public int ReadLink(ulong nodeId, Span<byte> target, out int length)
    {
        length = 0;
        var node = _tree.Get(nodeId);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        if ((node.Mode & Node.TypeMask) != Node.Symlink)
        {
            return Errno.EINVAL;
        }
        if (node.LinkTarget.Length > target.Length)
        {
            return Errno.ENAMETOOLONG;
        }
        node.LinkTarget.CopyTo(target);
        length = node.LinkTarget.Length;
        return 0;
    }

    public int Open(ulong nodeId, int flags, out FuseOpenResult result)
    {
        result = default;
        var node = NodeOf(nodeId, out var instance);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        if (node.IsDirectory)
        {
            return Errno.EISDIR;
        }
        if ((flags & AccessModeMask) != 0)
        {
            return Errno.EROFS;
        }
        if (instance is not null)
        {
            result = new FuseOpenResult(RegularHandle, FuseOpenFlags.KeepCache | FuseOpenFlags.NoFlush);
            return 0;
        }
        if (!node.IsRegular)
        {
            return Errno.EINVAL;
        }
        _accesses.Record(node);
        var backing = _passthrough?.TryOpen(node);
        if (backing is not null)
        {
            // Its reads go straight to the backing file, unseen: record it as read whole rather than not read.
            _reads.Record(node, 0, node.Size);
        }
        // NoFlush: nothing is ever written, so close(2) need not wait for a FLUSH round trip.
        result = new FuseOpenResult(RegularHandle, FuseOpenFlags.KeepCache | FuseOpenFlags.NoFlush, backing);
        return 0;
    }

    public ValueTask<int> ReadAsync(ulong nodeId, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_generated.TryGet(nodeId, out var instance))
        {
            return ValueTask.FromResult(offset < 0 ? 0 : GeneratedFiles.Read(instance, offset, buffer.Span));
        }
        var node = _tree.Get(nodeId);
        if (node is null)
        {
            return ValueTask.FromException<int>(new FuseException(Errno.ENOENT, "no such node"));
        }
        if (!node.IsRegular)
        {
            return ValueTask.FromException<int>(new FuseException(Errno.EINVAL, "not a regular file"));
        }
        if (offset < 0)
        {
            return ValueTask.FromException<int>(new FuseException(Errno.EINVAL, "negative offset"));
        }
        _statistics.AddReadRequest();
        if (offset >= node.Size || buffer.IsEmpty)
        {
            return ValueTask.FromResult(0);
        }
        if (buffer.Length > node.Size - offset)
        {
            buffer = buffer[..(int)(node.Size - offset)];
        }
        _reads.Record(node, offset, buffer.Length);
        _accesses.Record(node); // without OPEN (zero-message opens), a file's first read is its first sign of use
        _fill?.Offer(node); // a node the kernel had from READDIRPLUS, never looked up
        // Fast path: every chunk of the range is in the store; answer without a state machine.
        var index = node.ChunkIndexAt(offset);
        var done = 0;
        while (done < buffer.Length)
        {
            var chunk = node.Chunks[index];
            var within = (int)(offset + done - chunk.FileOffset);
            var count = (int)Math.Min(buffer.Length - done, chunk.Size - within);
            if (!_chunks.TryCopyStored(chunk, within, buffer.Span.Slice(done, count)))
            {
                return ReadSlowAsync(node, index, offset + done, buffer[done..], done, cancellationToken);
            }
            done += count;
            index++;
        }
        return ValueTask.FromResult(done);
    }

    private async ValueTask<int> ReadSlowAsync(Node node, int index, long offset, Memory<byte> buffer, int already, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var chunk = node.Chunks[index];
            var within = (int)(offset + done - chunk.FileOffset);
            var count = (int)Math.Min(buffer.Length - done, chunk.Size - within);
            await _chunks.CopyAsync(chunk, within, buffer.Slice(done, count), node.Path, cancellationToken).ConfigureAwait(false);
            done += count;
            index++;
        }
        return already + done;
    }

    public int Release(ulong nodeId, ulong handle) => 0;

    public int OpenDirectory(ulong nodeId, out ulong handle, out FuseOpenFlags flags)
    {
        handle = 0;
        flags = FuseOpenFlags.None;
        var node = _tree.Get(nodeId);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        if (!node.IsDirectory)
        {
            return Errno.ENOTDIR;
        }
        _accesses.Record(node);
        flags = FuseOpenFlags.CacheDir | FuseOpenFlags.KeepCache;
        return 0;
    }

    /// <summary>Listings are by position and the tree never changes: the kernel may skip directory opens.</summary>
    public bool DirectoriesNeedNoOpen => true;

    /// <summary>Position 0 is ".", 1 is "..", 2 + i is child i; an entry's next offset is its position + 1.</summary>
    public int ReadDirectory(ulong nodeId, ulong handle, long offset, ref FuseDirectoryWriter writer)
    {
        var node = _tree.Get(nodeId);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        if (!node.IsDirectory)
        {
            return Errno.ENOTDIR;
        }
        if (offset < 0)
        {
            return Errno.EINVAL;
        }
        var children = node.Children;
        for (var position = offset; position < children.Length + 2; position++)
        {
            var entry = default(FuseEntry);
            bool added;
            if (position < 2)
            {
                var self = position == 0 ? node : node.Parent ?? node;
                entry.Attr.Ino = self.Ino;
                entry.Attr.Mode = self.Mode;
                added = writer.TryAdd(position == 0 ? "."u8 : ".."u8, in entry, position + 1);
            }
            else
            {
                var child = children[position - 2];
                // A generated file's entry carries node id 0 (no dentry): it is only ever reached
                // by a lookup, which makes the instance of that moment.
                if (writer.IsPlus && !GeneratedFiles.IsGenerated(child.Node))
                {
                    FillEntry(child.Node, ref entry);
                }
                else
                {
                    entry.Attr.Ino = child.Node.Ino;
                    entry.Attr.Mode = child.Node.Mode;
                }
                added = writer.TryAdd(child.Name, in entry, position + 1);
            }
            if (!added)
            {
                break;
            }
        }
        return 0;
    }

    public int ReleaseDirectory(ulong nodeId, ulong handle) => 0;

    public int StatFs(ulong nodeId, out FuseStatFs stat)
    {
        stat = default;
        stat.BlockSize = LayerTree.BlockSize;
        stat.FragmentSize = LayerTree.BlockSize;
        stat.Blocks = (ulong)((_tree.TotalFileBytes + LayerTree.BlockSize - 1) / LayerTree.BlockSize);
        stat.Files = (ulong)_tree.Count;
        stat.NameLength = 255;
        return 0;
    }

    /// <summary>
    /// A layer without any extended attribute answers ENOSYS: the kernel then answers every later
    /// getxattr of the mount itself (EOPNOTSUPP, which overlayfs takes as "none"), instead of a
    /// round trip for each of the opaque, redirect and metacopy attributes it asks of each lower
    /// entry (~2,000 requests at a Python image's start).
    /// </summary>
    public int GetXattr(ulong nodeId, ReadOnlySpan<byte> name, Span<byte> value, out int length)
    {
        length = 0;
        if (!_tree.HasXattrs)
        {
            return Errno.ENOSYS;
        }
        var node = NodeOf(nodeId, out _);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        foreach (var xattr in node.Xattrs)
        {
            if (name.SequenceEqual(xattr.Name))
            {
                length = xattr.Value.Length;
                var fits = Math.Min(length, value.Length);
                xattr.Value.AsSpan(0, fits).CopyTo(value);
                return 0;
            }
        }
        return Errno.ENODATA;
    }

    /// <summary>Like <see cref="GetXattr"/>: ENOSYS for a layer without any extended attribute.</summary>
    public int ListXattr(ulong nodeId, Span<byte> names, out int length)
    {
        length = 0;
        if (!_tree.HasXattrs)
        {
            return Errno.ENOSYS;
        }
        var node = NodeOf(nodeId, out _);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        length = node.XattrNames.Length;
        node.XattrNames.AsSpan(0, Math.Min(length, names.Length)).CopyTo(names);
        return 0;
    }

    public int Access(ulong nodeId, int mask)
    {
        if (NodeOf(nodeId, out _) is null)
        {
            return Errno.ENOENT;
        }
        return (mask & WriteAccess) != 0 ? Errno.EROFS : 0;
    }

    /// <summary>Layer files have no holes: data runs from 0 to the size.</summary>
    public int Seek(ulong nodeId, ulong handle, long offset, int whence, out long result)
    {
        result = 0;
        var node = NodeOf(nodeId, out var instance);
        if (node is null)
        {
            return Errno.ENOENT;
        }
        var size = instance?.Content.Length ?? node.Size;
        if (whence is not (SeekData or SeekHole))
        {
            return Errno.EINVAL;
        }
        if (offset < 0 || offset >= size)
        {
            return Errno.ENXIO;
        }
        result = whence == SeekData ? offset : size;
        return 0;
    }

    /// <summary>The tree node behind a node id, and the generated file's instance when the id is one.</summary>
    private Node? NodeOf(ulong nodeId, out GeneratedFiles.Instance? instance)
    {
        if (_generated.TryGet(nodeId, out var found))
        {
            instance = found;
            return found.Node;
        }
        instance = null;
        return _tree.Get(nodeId);
    }

    private void FillEntry(Node node, ref FuseEntry entry)
    {
        entry.NodeId = node.Ino;
        entry.Generation = 1;
        entry.SetTimeouts(_timeout, _timeout);
        FillAttr(node, ref entry.Attr);
    }

    private void FillAttr(Node node, ref FuseAttr attr)
    {
        // A generated file's own node is only seen by a GETATTR of an id from an older kernel
        // cache; its instances carry the content.
        var size = GeneratedFiles.IsGenerated(node) ? _generated.Render(node.Kind).Length : node.Size;
        node.FillAttr(ref attr, node.Ino, size);
    }
}
