using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Snapshotter.Fs.Interop;
using Snapshotter.Fuse;

namespace Snapshotter.Fs;

/// <summary>
/// Whole copies of a layer's prefetched files on local disk, in a directory the snapshotter stacks
/// right above the layer's FUSE mount in overlayfs's lowerdir (docs/architecture.md, "Local copies"): what overlayfs
/// finds there it looks up, reads and maps without a FUSE round trip.
/// </summary>
/// <remarks>
/// Only what is complete appears, so a lookup finds the whole file or falls through to the mount,
/// which has the same bytes: a regular file whose every chunk the prefetch brings is written,
/// verified, under a staging name beside the directory, given the layer's owner, mode and mtime,
/// and renamed into place; directories likewise, each with its empty files and symlinks. It follows
/// the prefetch, copying chunks stored or on their way, and never fetches one itself. Left to the
/// mount: files with hardlinks or extended attributes, everything under a directory with extended
/// attributes (overlayfs answers for a directory from its topmost copy, which would have none), and
/// names that are not plain path segments. A rename into a directory changes its mtime; the
/// layer's is set back right after.
/// </remarks>
internal sealed class LocalCopies : IDisposable
{
    private const int Step = 1024 * 1024;

    private readonly string _directory;
    private readonly string _staging;
    private readonly LayerContent _content;
    private readonly ILogger _logger;
    private readonly byte[] _opaqueXattr;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<Node> _directories = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Node, bool> _copyable = new(ReferenceEqualityComparer.Instance);
    private Task _writing = Task.CompletedTask;
    private int _staged;
    private int _files;
    private long _bytes;

    /// <param name="directory">An existing directory for the copies; its parent also holds the staging directory.</param>
    public LocalCopies(string directory, LayerContent content, ILogger logger)
    {
        _directory = Path.TrimEndingDirectorySeparator(directory);
        _staging = _directory + ".staging";
        _content = content;
        _logger = logger;
        _opaqueXattr = Encoding.UTF8.GetBytes(content.Options.OpaqueXattr);
    }

    /// <summary>Completes when every file the prefetch brought whole is copied (or the copies stopped); never faults.</summary>
    public Task Completion => _writing;

    /// <summary>Regular files, empty ones included, and symlinks copied so far.</summary>
    public int Files => Volatile.Read(ref _files);

    /// <summary>Bytes of the regular files copied so far.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// Gives the directory the layer root's attributes and xattrs at once, whether or not anything
    /// is copied: stacked above the mount, it is the layer's root for overlayfs (a read-only view's
    /// root answers with it). Then starts copying in the background.
    /// </summary>
    public void Start()
    {
        var root = _content.Tree.Root;
        try
        {
            SetRootXattrs(root);
            SetAttributes(_directory, root);
        }
        catch (IOException e)
        {
            Log.LocalCopiesFailed(_logger, _content.LayerDigest, _directory, e);
            return;
        }
        if (!_content.CopiesPrefetchedFiles || _content.PrefetchedMembers() is not { } prefetched || !IsCopyableDirectory(root))
        {
            return;
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _writing = done.Task;
        var copier = new Thread(() =>
        {
            // The copies are a shortcut, so they take only CPU nobody else wants. At normal priority, on
            // two cores, the copier slowed the pull's other mounts and the container's start more than it
            // sped up its imports: the benchmark's Python image was ready 2.69 s after the pull began with
            // copies against 2.43 s without; at nice 19, 2.52 against 2.45 s (docs/benchmarks.md, tenth round).
            if (!IdleCpu.LowerForGood())
            {
                Log.LocalCopiesPriorityUnchanged(_logger, _content.LayerDigest, Marshal.GetLastPInvokeError());
            }
            WriteAll(prefetched, _stop.Token);
            done.TrySetResult();
        })
        {
            IsBackground = true,
            Name = "local-copies",
        };
        copier.Start();
    }

    /// <summary>The root's xattrs but the opaque marker, which on the copies would hide every layer below.</summary>
    private void SetRootXattrs(Node root)
    {
        foreach (var (name, value) in root.Xattrs)
        {
            if (name.AsSpan().SequenceEqual(_opaqueXattr))
            {
                continue;
            }
            byte[] terminated = [.. name, 0];
            Libc.Check(Libc.Lsetxattr(_directory, terminated, value, (nuint)value.Length, 0), "lsetxattr " + _directory);
        }
    }

    /// <summary>Runs on the copier's own thread and blocks it (waits for chunks included): every step it takes runs at its priority.</summary>
    private void WriteAll(bool[] prefetched, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        byte[]? buffer = null;
        try
        {
            var files = WholePrefetchedFiles(prefetched);
            DeleteStaging(); // what a process that died mid-copy left; its names would collide with ours
            Directory.CreateDirectory(_staging);
            // One buffer for the whole pass (files are copied one after another): a new one per file
            // was a zeroed allocation each time.
            buffer = ArrayPool<byte>.Shared.Rent(Step);
            foreach (var (file, parent) in files)
            {
                if (!IsCopyableDirectory(parent) || !IsPlainPath(file.Path))
                {
                    continue;
                }
                EnsureDirectory(parent);
                if (CopyFile(file, parent, buffer, cancellationToken))
                {
                    Interlocked.Increment(ref _files);
                    Interlocked.Add(ref _bytes, file.Size);
                }
            }
            Log.LocalCopiesWritten(_logger, _content.LayerDigest, Files, Bytes, files.Count, Stopwatch.GetElapsedTime(started).TotalSeconds);
            // Only after a pass that ended normally: a cancelled copy may still have a write into it pending.
            ArrayPool<byte>.Shared.Return(buffer);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Whatever it was, the mount still serves every file: the copies are only a shortcut.
            Log.LocalCopiesFailed(_logger, _content.LayerDigest, _directory, e);
        }
        finally
        {
            DeleteStaging();
        }
    }

    /// <summary>
    /// Regular files with one name, no xattrs and every chunk in the prefetch, with their directory
    /// (files have no parent link: hardlinks), in blob order (the order the prefetch brings them).
    /// </summary>
    private List<(Node File, Node Parent)> WholePrefetchedFiles(bool[] prefetched)
    {
        var tree = _content.Tree;
        var files = new List<(Node, Node)>();
        for (var ino = LayerTree.RootIno; tree.Get(ino) is { } directory; ino++)
        {
            if (directory.Kind != NodeKind.Entry || !directory.IsDirectory)
            {
                continue;
            }
            foreach (var entry in directory.Children)
            {
                var node = entry.Node;
                if (node.Kind == NodeKind.Entry && node.IsRegular && node.Size > 0 && node.NLink == 1 && node.Xattrs.Length == 0
                    && node.Chunks.All(chunk => _content.InPrefetch(prefetched, chunk)))
                {
                    files.Add((node, directory));
                }
            }
        }
        files.Sort(static (a, b) => a.Item1.Chunks[0].CompressedOffset.CompareTo(b.Item1.Chunks[0].CompressedOffset));
        return files;
    }

    /// <summary>Copies a file's verified content; false when a chunk did not come with the prefetch or failed (the mount serves the file).</summary>
    private bool CopyFile(Node file, Node parent, byte[] buffer, CancellationToken cancellationToken)
    {
        var target = LocalPath(file);
        if (Path.Exists(target))
        {
            return false; // an earlier process of the daemon copied it
        }
        var staged = StagingPath();
        try
        {
            // Written front to back, so not preallocated: ext4 allocates at writeback, where
            // fallocate would do it now, a syscall per file on the copier's path.
            using (var output = File.OpenHandle(staged, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                var index = 0;
                for (long offset = 0; offset < file.Size;)
                {
                    while (file.Chunks[index].FileEnd <= offset)
                    {
                        index++;
                    }
                    var chunk = file.Chunks[index];
                    var within = (int)(offset - chunk.FileOffset);
                    var count = (int)Math.Min(Step, chunk.Size - within);
                    if (!_content.CopyArrived(chunk, within, buffer.AsMemory(0, count), cancellationToken))
                    {
                        File.Delete(staged);
                        return false;
                    }
                    RandomAccess.Write(output, buffer.AsSpan(0, count), offset);
                    offset += count;
                }
            }
            SetAttributes(staged, file);
            if (MoveIntoPlace(staged, target, parent))
            {
                return true;
            }
            File.Delete(staged);
            return false;
        }
        catch (FuseException e)
        {
            // The chunk failed verification or its fetch failed: never copied, the mount answers for it.
            File.Delete(staged);
            Log.LocalCopySkipped(_logger, _content.LayerDigest, file.Path, e.Message);
            return false;
        }
        catch
        {
            File.Delete(staged);
            throw;
        }
    }

    /// <summary>Makes sure the directory is in place with its attributes, its empty files and symlinks.</summary>
    private void EnsureDirectory(Node directory)
    {
        if (_directories.Contains(directory))
        {
            return;
        }
        var root = directory.Parent is not { } parent || parent == directory;
        if (!root)
        {
            EnsureDirectory(directory.Parent!);
        }
        var target = LocalPath(directory);
        if (!root && !Directory.Exists(target))
        {
            var staged = StagingPath();
            Directory.CreateDirectory(staged);
            SetAttributes(staged, directory);
            if (!MoveIntoPlace(staged, target, directory.Parent!))
            {
                Directory.Delete(staged);
            }
        }
        foreach (var entry in directory.Children)
        {
            if (ContentlessTarget(entry.Node) is { } linkTarget && IsPlainPath(entry.Node.Path) && CopyContentless(entry.Node, linkTarget, directory))
            {
                Interlocked.Increment(ref _files);
            }
        }
        // Once more, for a process that died between a rename into it and setting its mtime back.
        SetModificationTime(target, directory.MTime);
        _directories.Add(directory);
    }

    /// <summary>
    /// For an empty regular file (""), or a symlink with a UTF-8 target (the target), with one name
    /// and no xattrs: complete without a byte fetched. Null for anything else.
    /// </summary>
    private static string? ContentlessTarget(Node node)
    {
        if (node.Kind != NodeKind.Entry || node.NLink != 1 || node.Xattrs.Length != 0)
        {
            return null;
        }
        if (node.IsRegular)
        {
            return node.Size == 0 ? "" : null;
        }
        return (node.Mode & Node.TypeMask) == Node.Symlink && TryDecode(node.LinkTarget) is { Length: > 0 } target ? target : null;
    }

    /// <summary>False when the name is taken already (an earlier process of the daemon copied it).</summary>
    private bool CopyContentless(Node node, string linkTarget, Node parent)
    {
        var staged = StagingPath();
        if (node.IsRegular)
        {
            File.Create(staged).Dispose();
        }
        else
        {
            File.CreateSymbolicLink(staged, linkTarget);
        }
        SetAttributes(staged, node);
        if (MoveIntoPlace(staged, LocalPath(node), parent))
        {
            return true;
        }
        File.Delete(staged);
        return false;
    }

    /// <summary>Renames without replacing; false if the name is taken. Sets the parent's mtime back to the layer's.</summary>
    private bool MoveIntoPlace(string staged, string target, Node parent)
    {
        if (Libc.Renameat2(Libc.AT_FDCWD, staged, Libc.AT_FDCWD, target, Libc.RENAME_NOREPLACE) == -1)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EEXIST)
            {
                return false;
            }
            throw new IOException($"renaming {staged} to {target}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        SetModificationTime(LocalPath(parent), parent.MTime);
        return true;
    }

    /// <summary>Owner first: chown clears set-user-ID and set-group-ID bits that chmod then sets.</summary>
    private static void SetAttributes(string path, Node node)
    {
        Libc.Check(Libc.Lchown(path, node.Uid, node.Gid), "chown " + path);
        if ((node.Mode & Node.TypeMask) != Node.Symlink)
        {
            Libc.Check(Libc.Chmod(path, node.Mode & 0xFFF), "chmod " + path);
        }
        SetModificationTime(path, node.MTime);
    }

    private static void SetModificationTime(string path, long seconds)
    {
        Span<Libc.Timespec> times = [new() { Seconds = seconds }, new() { Seconds = seconds }];
        Libc.Check(Libc.Utimensat(Libc.AT_FDCWD, path, times, Libc.AT_SYMLINK_NOFOLLOW), "utimensat " + path);
    }

    /// <summary>Whether a directory and all above it have no xattrs but the opaque marker (cached).</summary>
    private bool IsCopyableDirectory(Node directory)
    {
        if (_copyable.TryGetValue(directory, out var known))
        {
            return known;
        }
        var own = directory.Xattrs.All(x => x.Name.AsSpan().SequenceEqual(_opaqueXattr));
        var copyable = own && (directory.Parent is not { } parent || parent == directory || IsCopyableDirectory(parent));
        _copyable[directory] = copyable;
        return copyable;
    }

    /// <summary>Relative, with no empty, "." or ".." segment: the TOC's names are checked by the reader, and again here before they touch the disk.</summary>
    private static bool IsPlainPath(string path) =>
        path.Length > 0 && !path.Contains('\0', StringComparison.Ordinal) && path.Split('/').All(segment => segment is not ("" or "." or ".."));

    private string LocalPath(Node node) => node.Path.Length == 0 ? _directory : Path.Join(_directory, node.Path);

    private string StagingPath() => Path.Join(_staging, Interlocked.Increment(ref _staged).ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static string? TryDecode(byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private void DeleteStaging()
    {
        try
        {
            if (Directory.Exists(_staging))
            {
                Directory.Delete(_staging, recursive: true);
            }
        }
        catch (IOException e)
        {
            Log.LocalCopiesFailed(_logger, _content.LayerDigest, _staging, e);
        }
    }

    /// <summary>Stops copying and waits for the file in progress; the copies made stay (the snapshot's removal deletes them).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _writing.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // Logged where it failed.
        }
        // Not disposed: a copy that outlived the wait may still ask for its token.
    }
}
