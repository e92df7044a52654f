using System.Diagnostics;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Fuse.Protocol;
using Snapshotter.Fuse.Server;

namespace Snapshotter.Fuse;

/// <summary>
/// Serves one FUSE connection: dedicated reader threads block on the transport, decode each
/// request, dispatch it through the opcode table to an <see cref="IFuseFileSystem"/> and write
/// the reply on the channel the request came from. READs may complete asynchronously; their
/// replies are written when ready, while the reader thread goes on reading.
/// </summary>
public sealed partial class FuseServer : IDisposable
{
    private readonly IFuseTransport _transport;
    private readonly IFuseFileSystem _fs;
    private readonly FuseServerOptions _options;
    private readonly ILogger _logger;
    private readonly ReadOperations _reads = new();
    private readonly List<Reader> _readers = [];
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _initialized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PassthroughHandles _passthrough = new();
    private FuseConnectionParameters? _connection;
    private int _running;
    private bool _started;
    private volatile bool _stopping;
    private volatile bool _keepUnanswered;
    private volatile bool _abandoned;
    private bool _channelsClosed;

    public FuseServer(IFuseTransport transport, IFuseFileSystem fileSystem, FuseServerOptions? options = null, ILogger<FuseServer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(fileSystem);
        _transport = transport;
        _fs = fileSystem;
        _options = options ?? new FuseServerOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.ReaderThreads, 1);
    }

    /// <summary>What INIT settled (or what was supplied to resume an inherited connection); null before.</summary>
    public FuseConnectionParameters? Connection => Volatile.Read(ref _connection);

    /// <summary>Completes once the connection is initialized (at once when resuming).</summary>
    public Task Initialized => _initialized.Task;

    /// <summary>Completes when serving has ended (unmount, abort or <see cref="Stop"/>) and no reply is outstanding.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Requests in flight that complete asynchronously (READs).</summary>
    internal int ReadsInFlight => _reads.InFlight;

    /// <summary>
    /// Starts the reader threads. On a new connection one thread reads INIT first and the others
    /// start after it; with <see cref="FuseServerOptions.Negotiated"/> all start at once, after
    /// asking the kernel to resend what a previous server read but never answered.
    /// </summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException("the server is already started");
            }
            _started = true;
            if (_options.Negotiated is { } negotiated)
            {
                _connection = negotiated;
                _initialized.TrySetResult();
                StartReaders(_options.ReaderThreads, resendFirst: true);
            }
            else
            {
                StartReaders(1);
            }
        }
    }

    /// <summary>
    /// Stops serving without unmounting: reader threads stop reading, reads in flight are answered
    /// (cancelled after <see cref="FuseServerOptions.StopTimeout"/>), cloned queues are closed. The
    /// connection's own descriptor stays open, so another server may take over the mount.
    /// </summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopping = true;
            if (!_started)
            {
                _started = true;
                _completion.TrySetResult();
            }
            CancelReads();
        }
        if (!_completion.Task.Wait(_options.StopTimeout + TimeSpan.FromSeconds(5)))
        {
            throw new TimeoutException("FUSE readers did not stop");
        }
    }

    /// <summary>
    /// Stops serving for a handover to another server on this connection (whose descriptors are
    /// kept elsewhere): like <see cref="Stop"/>, but reads still in flight after
    /// <see cref="FuseServerOptions.StopTimeout"/> are left unanswered instead of failing with EINTR.
    /// The kernel keeps them, and the next server gets them back when it resumes (FUSE_NOTIFY_RESEND).
    /// </summary>
    public void StopForHandover()
    {
        _keepUnanswered = true;
        Stop();
    }

    public void Dispose() => Stop();

    /// <summary>Tells the kernel to drop cached data (and attributes) of a node; returns 0 or an errno (ENOENT: not cached).</summary>
    public int NotifyInvalidateInode(ulong nodeId, long offset, long length)
    {
        var body = new FuseNotifyInvalInodeOut { Ino = nodeId, Offset = offset, Length = length };
        return Notify(FuseNotifyCode.InvalInode, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseNotifyInvalInodeOut>(in body)));
    }

    /// <summary>Tells the kernel to drop the cached name <paramref name="name"/> in directory <paramref name="parent"/>.</summary>
    public int NotifyInvalidateEntry(ulong parent, ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty || name.Length > 255)
        {
            return Errno.ENAMETOOLONG;
        }
        Span<byte> body = stackalloc byte[Unsafe.SizeOf<FuseNotifyInvalEntryOut>() + 256];
        var fixedPart = new FuseNotifyInvalEntryOut { Parent = parent, NameLength = (uint)name.Length };
        MemoryMarshal.Write(body, in fixedPart);
        name.CopyTo(body[Unsafe.SizeOf<FuseNotifyInvalEntryOut>()..]);
        var length = Unsafe.SizeOf<FuseNotifyInvalEntryOut>() + name.Length + 1;
        body[length - 1] = 0;
        return Notify(FuseNotifyCode.InvalEntry, body[..length]);
    }

    /// <summary>
    /// Puts <paramref name="data"/> into the kernel's page cache of node <paramref name="nodeId"/> at
    /// <paramref name="offset"/> (FUSE_NOTIFY_STORE), so that reads and page faults there need no
    /// READ. Only whole pages become valid (the last may end at the file's end), so the offset
    /// should be page-aligned. Returns 0 or an errno (ENOENT: the kernel holds no inode for the node).
    /// Blocks while a READ of one of those pages is outstanding: call it off the reader threads.
    /// </summary>
    public int NotifyStore(ulong nodeId, long offset, ReadOnlySpan<byte> data)
    {
        var body = new FuseNotifyStoreOut { NodeId = nodeId, Offset = offset, Size = (uint)data.Length };
        Span<byte> fixedPart = stackalloc byte[FuseOutHeader.Size + Unsafe.SizeOf<FuseNotifyStoreOut>()];
        MemoryMarshal.Write(fixedPart[FuseOutHeader.Size..], in body);
        return Notify(FuseNotifyCode.Store, fixedPart, data);
    }

    private int Notify(FuseNotifyCode code, ReadOnlySpan<byte> body)
    {
        Span<byte> header = stackalloc byte[FuseOutHeader.Size + body.Length];
        body.CopyTo(header[FuseOutHeader.Size..]);
        return Notify(code, header, default);
    }

    /// <summary>Sends a notification: <paramref name="header"/> starts with room for the out header, <paramref name="payload"/> follows it.</summary>
    private int Notify(FuseNotifyCode code, Span<byte> header, ReadOnlySpan<byte> payload)
    {
        IFuseChannel channel;
        lock (_gate)
        {
            if (_readers.Count == 0 || _channelsClosed || Connection is null)
            {
                return Errno.ENOTCONN;
            }
            channel = _readers[0].Channel;
        }
        WriteHeader(header, header.Length + payload.Length, (int)code, 0);
        try
        {
            return channel.Write(header, payload);
        }
        catch (ObjectDisposedException)
        {
            return Errno.ENOTCONN; // the queues closed meanwhile (unmount, handover)
        }
    }

    /// <summary>
    /// FUSE_NOTIFY_RESEND (7.40, Linux 6.9+): the requests a previous server of this connection
    /// read but never answered (it crashed) go back to the input queue with the high bit of their
    /// unique set, instead of waiting forever. Every request this server answers is idempotent.
    /// The kernel advertises the feature with <see cref="FuseInitFlags.HasResend"/>; it needs no
    /// INIT flag from the server. Older kernels refuse the notification (EINVAL).
    /// </summary>
    private void RequestResend(IFuseChannel channel)
    {
        Span<byte> header = stackalloc byte[FuseOutHeader.Size];
        WriteHeader(header, FuseOutHeader.Size, (int)FuseNotifyCode.Resend, 0);
        var errno = channel.Write(header, default);
        if (errno == 0)
        {
            Log.ResendRequested(_logger);
        }
        else
        {
            Log.ResendRefused(_logger, errno, Connection?.KernelFlags.HasFlag(FuseInitFlags.HasResend) == true);
        }
    }

    private void CancelReads()
    {
        // Called under _gate.
        if (_channelsClosed)
        {
            return;
        }
        foreach (var reader in _readers)
        {
            reader.Channel.CancelRead();
        }
    }

    private void StartReaders(int count, bool resendFirst = false)
    {
        // Called under _gate.
        for (var i = 0; i < count && !_stopping; i++)
        {
            var index = _readers.Count;
            IFuseChannel channel;
            try
            {
                channel = _transport.OpenChannel(clone: index > 0);
            }
            catch (IOException e) when (index > 0)
            {
                // Fewer queues is slower, not broken.
                Log.CloneFailed(_logger, index, e);
                return;
            }
            if (resendFirst && index == 0)
            {
                // Before any thread reads, so that only what the previous server left is resent.
                RequestResend(channel);
            }
            var reader = new Reader(index, channel, RequestBufferSize(), ReplyBufferSize());
            _readers.Add(reader);
            _running++;
            reader.Thread = new Thread(() => Run(reader))
            {
                IsBackground = true,
                Name = $"fuse-reader-{index}",
            };
            reader.Thread.Start();
        }
    }

    private int RequestBufferSize() =>
        Math.Max(FuseConstants.MinReadBuffer, FuseConstants.PageSize + (int)_options.MaxWrite);

    private int ReplyBufferSize() => Math.Max(64 * 1024, (int)_options.MaxPages * FuseConstants.PageSize);

    private void Run(Reader reader)
    {
        try
        {
            while (!_stopping)
            {
                var length = reader.Channel.Read(reader.Request);
                if (length == 0)
                {
                    break;
                }
                Dispatch(reader, reader.Request.AsSpan(0, length));
            }
        }
        catch (Exception e)
        {
            Log.ReaderFailed(_logger, reader.Index, e);
        }
        finally
        {
            ReaderExited();
        }
    }

    private void ReaderExited()
    {
        lock (_gate)
        {
            // One reader ending (unmount, DESTROY, Stop) ends them all.
            _stopping = true;
            CancelReads();
            if (--_running > 0)
            {
                return;
            }
        }
        if (!_reads.WaitIdle(_options.StopTimeout))
        {
            if (_keepUnanswered)
            {
                // Their replies are dropped (see CompleteRead); the kernel resends them to the next server.
                Log.StopLeavingUnanswered(_logger, _reads.InFlight);
                _abandoned = true;
                _reads.CancelAll();
            }
            else
            {
                Log.StopCancelling(_logger, _reads.InFlight);
                _reads.CancelAll();
                _reads.WaitIdle(TimeSpan.FromSeconds(5));
            }
        }
        _passthrough.CloseAll(_transport);
        lock (_gate)
        {
            _channelsClosed = true;
            foreach (var reader in _readers)
            {
                reader.Channel.Dispose();
            }
        }
        _initialized.TrySetCanceled();
        _completion.TrySetResult();
    }

    private void Dispatch(Reader reader, ReadOnlySpan<byte> request)
    {
        if (request.Length < FuseInHeader.Size)
        {
            Log.Malformed(_logger, "request", request.Length);
            return;
        }
        var header = MemoryMarshal.Read<FuseInHeader>(request);
        var body = request[FuseInHeader.Size..Math.Min(request.Length, (int)Math.Max(header.Length, FuseInHeader.Size))];
        var opcode = (uint)header.Opcode;
        var entry = opcode < Opcodes.Length ? Opcodes[opcode] : default;
        if (entry.Handler is null)
        {
            Log.Unsupported(_logger, opcode);
            ReplyError(reader.Channel, header.Unique, Errno.ENOSYS);
            return;
        }
        if (body.Length < entry.InSize)
        {
            Log.Malformed(_logger, entry.Name, request.Length);
            if (!entry.NoReply)
            {
                ReplyError(reader.Channel, header.Unique, Errno.EINVAL);
            }
            return;
        }
        if (Connection is null && header.Opcode != FuseOpcode.Init)
        {
            ReplyError(reader.Channel, header.Unique, Errno.EIO);
            return;
        }
        int errno;
        var started = Stopwatch.GetTimestamp();
        try
        {
            errno = entry.Handler(this, reader, in header, body);
        }
        catch (FuseException e)
        {
            errno = e.Errno;
        }
        catch (Exception e)
        {
            Log.HandlerFailed(_logger, entry.Name, header.NodeId, e);
            errno = Errno.EIO;
        }
        if (errno != 0 && !entry.NoReply)
        {
            ReplyError(reader.Channel, header.Unique, errno);
        }
        if (header.Opcode != FuseOpcode.Read)
        {
            FuseMetrics.Record(entry.Name, started, errno); // READ is recorded when it is answered
        }
    }

    private static void WriteHeader(Span<byte> header, int length, int error, ulong unique)
    {
        var value = new FuseOutHeader { Length = (uint)length, Error = error, Unique = unique };
        MemoryMarshal.Write(header, in value);
    }

    private void ReplyError(IFuseChannel channel, ulong unique, int errno)
    {
        Span<byte> header = stackalloc byte[FuseOutHeader.Size];
        WriteHeader(header, FuseOutHeader.Size, -errno, unique);
        Deliver(channel, unique, header, default);
    }

    private int Reply(IFuseChannel channel, ulong unique, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[FuseOutHeader.Size];
        WriteHeader(header, FuseOutHeader.Size + payload.Length, 0, unique);
        return Deliver(channel, unique, header, payload);
    }

    private int Reply<T>(IFuseChannel channel, ulong unique, in T body)
        where T : unmanaged =>
        Reply(channel, unique, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in body)));

    private int Deliver(IFuseChannel channel, ulong unique, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        int errno;
        try
        {
            errno = channel.Write(header, payload);
        }
        catch (ObjectDisposedException)
        {
            // A read that completed while a handover closed the queues: the next server answers it.
            errno = Errno.EBADF;
        }
        if (errno != 0)
        {
            Log.ReplyFailed(_logger, unique, errno);
        }
        return errno;
    }

    /// <summary>A reader thread's queue and its two buffers, reused for every request it handles.</summary>
    private sealed class Reader(int index, IFuseChannel channel, int requestSize, int replySize)
    {
        public int Index { get; } = index;
        public IFuseChannel Channel { get; } = channel;
        public byte[] Request { get; } = GC.AllocateUninitializedArray<byte>(requestSize, pinned: true);
        public byte[] ReplyBuffer { get; } = GC.AllocateUninitializedArray<byte>(replySize, pinned: true);
        public Thread? Thread { get; set; }
    }
}
