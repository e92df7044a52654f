using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Snapshotter.Estargz;
using Snapshotter.Fuse;

namespace Snapshotter.Fs;

/// <summary>
/// Puts the prefetched pages of each file the kernel looks up or reads into the kernel's page cache
/// (FUSE_NOTIFY_STORE), so the container's reads and page faults there are answered without a READ
/// round trip. Files read in part (large libraries, of which a start touches some pages) never get
/// local copies, and each fault in them was a READ; the kernel's readahead around a fault was what
/// made those READs few, at the price of prefetching (and recording) more than was touched.
/// </summary>
/// <remarks>
/// Follows the prefetch like <see cref="LocalCopies"/>: copies chunks stored or on their way, waits
/// for them while the prefetch may still bring them, never fetches one. The stores run on a thread
/// of their own, started when there is work and ended when idle: a store blocks while the kernel
/// has a READ of one of its pages outstanding, which must never hold up a reader thread or the pool.
/// </remarks>
internal sealed class PageCacheFill : IDisposable
{
    private const int PageSize = 4096;
    private const int Step = 1024 * 1024;
    private static readonly TimeSpan IdleExit = TimeSpan.FromSeconds(2);

    /// <summary>A LOOKUP's node gets its kernel inode when the looking-up task wakes to the reply, just after it is sent.</summary>
    private const int InodeWaitAttempts = 20;

    private readonly LayerContent _content;
    private readonly ILogger _logger;
    private readonly bool[]? _prefetched;
    private readonly NodeFlags _offered;
    private readonly BlockingCollection<Node> _queue = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private FuseServer? _server;
    private bool _running;
    private long _bytes;
    private int _files;

    public PageCacheFill(LayerContent content, ILogger logger)
    {
        _content = content;
        _logger = logger;
        _prefetched = content.PrefetchedMembers();
        _offered = new NodeFlags(content.Tree.Count);
    }

    /// <summary>Bytes put into the page cache so far.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The connection to store into; set before it serves its first request.</summary>
    public void Attach(FuseServer server) => _server = server;

    /// <summary>The kernel has (or is about to have) an inode for <paramref name="node"/>: store its prefetched pages, once.</summary>
    public void Offer(Node node)
    {
        if (_prefetched is null || !node.IsRegular || node.Size == 0 || !_offered.TrySet(node.Ino) || !HasPrefetchedChunk(node))
        {
            return;
        }
        try
        {
            _queue.Add(node);
        }
        catch (InvalidOperationException)
        {
            return; // disposed
        }
        lock (_lock)
        {
            if (_running)
            {
                return;
            }
            _running = true;
        }
        new Thread(Run) { IsBackground = true, Name = "page-cache-fill" }.Start();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _queue.CompleteAdding();
    }

    private bool HasPrefetchedChunk(Node node)
    {
        foreach (var chunk in node.Chunks)
        {
            if (IsPrefetched(chunk))
            {
                return true;
            }
        }
        return false;
    }

    private bool IsPrefetched(in EstargzChunk chunk) => _content.InPrefetch(_prefetched!, chunk);

    private void Run()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Step);
        try
        {
            while (true)
            {
                if (!_queue.TryTake(out var node, IdleExit))
                {
                    lock (_lock)
                    {
                        if (_queue.Count == 0 || _queue.IsAddingCompleted)
                        {
                            _running = false;
                            Log.PageCacheFilled(_logger, _content.LayerDigest, Bytes, _files);
                            return;
                        }
                    }
                    continue;
                }
                try
                {
                    Fill(node, buffer);
                    _files++;
                }
                catch (FuseException)
                {
                    // A chunk failed verification or its fetch failed: never stored; READs answer for it (with EIO).
                }
            }
        }
        catch (Exception e)
        {
            if (!(e is OperationCanceledException or ObjectDisposedException or InvalidOperationException && _stop.IsCancellationRequested))
            {
                // The pages are a shortcut: READs still serve every byte.
                Log.PageCacheFillFailed(_logger, _content.LayerDigest, e);
            }
            lock (_lock)
            {
                _running = false;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Stores the node's prefetched chunks in runs of adjacent ones, a buffer at a time, page-aligned.</summary>
    private void Fill(Node node, byte[] buffer)
    {
        var start = 0L; // file offset of buffer[0]
        var length = 0;
        var first = true;
        foreach (var chunk in node.Chunks)
        {
            if (!IsPrefetched(chunk))
            {
                continue;
            }
            if (length > 0 && chunk.FileOffset != start + length)
            {
                if (!Store(node, buffer, start, length, ref first, out _))
                {
                    return;
                }
                length = 0;
            }
            if (length == 0)
            {
                start = chunk.FileOffset;
            }
            for (var within = 0L; within < chunk.Size;)
            {
                if (length == buffer.Length)
                {
                    if (!Store(node, buffer, start, length, ref first, out var stored) || stored == 0)
                    {
                        return; // stored == 0 cannot happen with chunks that tile the file (the TOC index checks they do)
                    }
                    // The part past the last whole page waits for the bytes that complete it.
                    buffer.AsSpan(stored, length - stored).CopyTo(buffer);
                    start += stored;
                    length -= stored;
                }
                var count = (int)Math.Min(buffer.Length - length, chunk.Size - within);
                if (!_content.CopyArrived(chunk, (int)within, buffer.AsMemory(length, count), _stop.Token))
                {
                    // Not in the prefetch after all (it failed): what came so far is still good.
                    Store(node, buffer, start, length, ref first, out _);
                    return;
                }
                length += count;
                within += count;
            }
        }
        if (length > 0)
        {
            Store(node, buffer, start, length, ref first, out _);
        }
    }

    /// <summary>
    /// Stores the whole pages of buffer[0, length) (file offset <paramref name="start"/>; a last
    /// partial page only at the file's end). <paramref name="stored"/>: bytes from buffer[0] up to
    /// the end of what was stored. False when the node cannot be stored into (no inode, no connection).
    /// </summary>
    private bool Store(Node node, byte[] buffer, long start, int length, ref bool first, out int stored)
    {
        // Never past the file's size: the kernel would take a store's end as the file's new size.
        var end = Math.Min(start + length, node.Size);
        var from = (start + PageSize - 1) / PageSize * PageSize;
        var to = end == node.Size ? end : end / PageSize * PageSize;
        stored = (int)Math.Max(0, to - start);
        if (to <= from)
        {
            return true;
        }
        var data = buffer.AsSpan((int)(from - start), (int)(to - from));
        var errno = _server?.NotifyStore(node.Ino, from, data) ?? Errno.ENOTCONN;
        for (var attempt = 0; first && errno == Errno.ENOENT && attempt < InodeWaitAttempts; attempt++)
        {
            Thread.Sleep(1);
            errno = _server!.NotifyStore(node.Ino, from, data);
        }
        first = false;
        if (errno != 0)
        {
            // ENOENT: the kernel let the inode go; anything else: the connection is ending.
            return false;
        }
        Interlocked.Add(ref _bytes, data.Length);
        return true;
    }
}
