using System.Diagnostics;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Snapshotter.Fuse.Protocol;
using Snapshotter.Fuse.Server;

namespace Snapshotter.Fuse;

public sealed partial class FuseServer
{
    /// <summary>What this server asks for at INIT; the reply keeps what the kernel offers of it.</summary>
    internal FuseInitFlags WantedFlags =>
        FuseInitFlags.AsyncRead | FuseInitFlags.ParallelDirOps | FuseInitFlags.DoReadDirPlus |
        FuseInitFlags.ReadDirPlusAuto | FuseInitFlags.MaxPages | FuseInitFlags.CacheSymlinks |
        FuseInitFlags.AsyncDio | FuseInitFlags.InitExt |
        (_options.ExportSupport ? FuseInitFlags.ExportSupport : FuseInitFlags.None) |
        (_options.Passthrough ? FuseInitFlags.Passthrough : FuseInitFlags.None);

    private int HandleInit(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        if (Connection is not null)
        {
            return Errno.EPROTO;
        }
        var init = default(FuseInitIn);
        body[..Math.Min(body.Length, Unsafe.SizeOf<FuseInitIn>())].CopyTo(MemoryMarshal.AsBytes(new Span<FuseInitIn>(ref init)));
        if (init.Major < FuseConstants.KernelVersion || (init.Major == FuseConstants.KernelVersion && init.Minor < FuseConstants.MinMinorVersion))
        {
            Log.ProtocolTooOld(_logger, init.Major, init.Minor, FuseConstants.MinMinorVersion);
            return Errno.EPROTO;
        }
        var reply = new FuseInitOut { Major = FuseConstants.KernelVersion, Minor = FuseConstants.MaxMinorVersion };
        if (init.Major > FuseConstants.KernelVersion)
        {
            // A newer major: answer with ours only; the kernel sends INIT again if it can speak it.
            Reply(reader.Channel, header.Unique, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInitOut>(in reply))[..8]);
            return 0;
        }
        var offered = (FuseInitFlags)init.Flags;
        if (offered.HasFlag(FuseInitFlags.InitExt))
        {
            offered |= (FuseInitFlags)((ulong)init.Flags2 << 32);
        }
        var flags = WantedFlags & offered;
        reply.Minor = Math.Min(init.Minor, FuseConstants.MaxMinorVersion);
        reply.MaxReadahead = Math.Min(init.MaxReadahead, _options.MaxReadahead);
        reply.Flags = (uint)flags;
        reply.Flags2 = (uint)((ulong)flags >> 32);
        reply.MaxBackground = _options.MaxBackground;
        reply.CongestionThreshold = _options.CongestionThreshold;
        reply.MaxWrite = _options.MaxWrite;
        reply.TimeGran = _options.TimeGranularity;
        reply.MaxPages = flags.HasFlag(FuseInitFlags.MaxPages) ? _options.MaxPages : (ushort)0;
        // Backing files live on ordinary file systems (stack depth 0), so the mount stacks one deep.
        reply.MaxStackDepth = flags.HasFlag(FuseInitFlags.Passthrough) ? 1u : 0u;
        var size = reply.Minor < 5 ? 8 : reply.Minor < 23 ? 24 : Unsafe.SizeOf<FuseInitOut>();

        var connection = new FuseConnectionParameters(
            reply.Major, reply.Minor, flags, reply.MaxReadahead, reply.MaxWrite,
            flags.HasFlag(FuseInitFlags.MaxPages) ? reply.MaxPages : (ushort)32, reply.TimeGran, offered);
        Volatile.Write(ref _connection, connection);
        lock (_gate)
        {
            // The other queues are ready before the kernel learns that INIT is done.
            StartReaders(_options.ReaderThreads - _readers.Count);
        }
        Log.Initialized(_logger, reply.Minor, init.Minor, flags.ToString(), reply.MaxReadahead, connection.MaxPages);
        Reply(reader.Channel, header.Unique, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInitOut>(in reply))[..size]);
        _initialized.TrySetResult();
        return 0;
    }

    private int HandleDestroy(Reader reader, in FuseInHeader header)
    {
        _stopping = true;
        Reply(reader.Channel, header.Unique, default);
        return 0;
    }

    private int HandleLookup(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        var errno = _fs.Lookup(header.NodeId, NameOf(body), out var entry);
        if (errno != 0)
        {
            return errno;
        }
        Reply(reader.Channel, header.Unique, in entry);
        return 0;
    }

    private int HandleForget(in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        _fs.Forget(header.NodeId, MemoryMarshal.Read<FuseForgetIn>(body).NLookup);
        return 0;
    }

    private int HandleBatchForget(ReadOnlySpan<byte> body)
    {
        var count = MemoryMarshal.Read<FuseBatchForgetIn>(body).Count;
        var entries = MemoryMarshal.Cast<byte, FuseForgetOne>(body[Unsafe.SizeOf<FuseBatchForgetIn>()..]);
        foreach (var one in entries[..(int)Math.Min(count, (uint)entries.Length)])
        {
            _fs.Forget(one.NodeId, one.NLookup);
        }
        return 0;
    }

    private int HandleGetAttr(Reader reader, in FuseInHeader header)
    {
        var errno = _fs.GetAttr(header.NodeId, out var attr, out var validFor);
        if (errno != 0)
        {
            return errno;
        }
        var reply = new FuseAttrOut { Attr = attr };
        (reply.AttrValid, reply.AttrValidNsec) = FuseEntry.Split(validFor);
        Reply(reader.Channel, header.Unique, in reply);
        return 0;
    }

    private int HandleReadLink(Reader reader, in FuseInHeader header)
    {
        var target = reader.ReplyBuffer.AsSpan(0, 4096);
        var errno = _fs.ReadLink(header.NodeId, target, out var length);
        if (errno != 0)
        {
            return errno;
        }
        if ((uint)length > (uint)target.Length)
        {
            return Errno.ENAMETOOLONG;
        }
        Reply(reader.Channel, header.Unique, target[..length]);
        return 0;
    }

    private int HandleOpen(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        if (ZeroMessageOpens)
        {
            // The kernel takes ENOSYS as "no open needed": the file opens, and no OPEN or RELEASE
            // is sent again on this connection; pages are kept as FOPEN_KEEP_CACHE would.
            return Errno.ENOSYS;
        }
        var request = MemoryMarshal.Read<FuseOpenIn>(body);
        var errno = _fs.Open(header.NodeId, (int)request.Flags, out var result);
        var backingId = -1;
        // The kernel keeps its own reference to a registered backing file; ours is closed at once.
        using (result.PassthroughFile)
        {
            if (errno != 0)
            {
                return errno;
            }
            if (result.PassthroughFile is { } backingFile && Connection!.Passthrough)
            {
                backingId = _transport.OpenBacking(backingFile);
                if (backingId < 0)
                {
                    Log.PassthroughRefused(_logger, header.NodeId, -backingId);
                }
            }
        }
        var reply = new FuseOpenOut { Fh = result.Handle, OpenFlags = result.Flags & ~FuseOpenFlags.Passthrough };
        if (backingId >= 0)
        {
            reply.Fh = _passthrough.Add(result.Handle, backingId);
            // Page-cache and direct-I/O flags conflict with passthrough.
            reply.OpenFlags = (reply.OpenFlags & FuseOpenFlags.NoFlush) | FuseOpenFlags.Passthrough;
            reply.BackingId = backingId;
        }
        if (Reply(reader.Channel, header.Unique, in reply) != 0 && backingId >= 0 && _passthrough.TryRemove(reply.Fh, out _, out _))
        {
            // The open was interrupted: no RELEASE will come for it.
            _transport.CloseBacking(backingId);
        }
        return 0;
    }

    private int HandleRelease(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        var request = MemoryMarshal.Read<FuseReleaseIn>(body);
        var handle = request.Fh;
        if (_passthrough.TryRemove(request.Fh, out var fsHandle, out var backingId))
        {
            _transport.CloseBacking(backingId);
            handle = fsHandle;
        }
        return ReplyEmpty(reader, in header, _fs.Release(header.NodeId, handle));
    }

    private int HandleRead(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        var request = MemoryMarshal.Read<FuseReadIn>(body);
        var size = (int)Math.Min(request.Size, (uint)Math.Max(Connection!.MaxRead, 128 * 1024));
        var handle = (request.Fh & PassthroughHandles.TokenBit) != 0 ? _passthrough.Translate(request.Fh) : request.Fh;
        var op = _reads.Rent(header.Unique, header.NodeId, reader.Channel);
        op.Started = Stopwatch.GetTimestamp();
        op.Size = size;
        op.Buffer = ArrayPool<byte>.Shared.Rent(size);
        ValueTask<int> pending;
        try
        {
            pending = _fs.ReadAsync(header.NodeId, handle, (long)request.Offset, op.Buffer.AsMemory(0, size), op.Cancellation.Token);
        }
        catch (Exception e)
        {
            CompleteRead(op, 0, e);
            return 0;
        }
        if (pending.IsCompleted)
        {
            FinishRead(op, pending);
        }
        else
        {
            // Completes later on whatever thread the file system finishes on; the reader goes on.
            op.Pending = pending;
            op.Continuation ??= ContinuationFor(op);
            pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(op.Continuation);
        }
        return 0;
    }

    /// <summary>In a method of its own, so that the closure is only allocated here, once per pooled operation.</summary>
    private Action ContinuationFor(ReadOperation op) => () => FinishRead(op, op.Pending);

    private void FinishRead(ReadOperation op, ValueTask<int> completed)
    {
        op.Pending = default;
        int count;
        try
        {
            count = completed.GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            CompleteRead(op, 0, e);
            return;
        }
        CompleteRead(op, count, null);
    }

    /// <summary>Answers a READ with its data (one write of header and data) or an errno, and recycles its operation.</summary>
    private void CompleteRead(ReadOperation op, int count, Exception? error)
    {
        try
        {
            if (_abandoned)
            {
                return; // left for the next server (StopForHandover)
            }
            var errno = error is null ? 0 : ErrnoOf(error, "READ", op.NodeId);
            if (error is null && (uint)count > (uint)op.Size)
            {
                Log.HandlerFailed(_logger, "READ", op.NodeId, new InvalidOperationException($"ReadAsync returned {count} for a {op.Size}-byte buffer"));
                errno = Errno.EIO;
            }
            if (errno != 0)
            {
                ReplyError(op.Channel, op.Unique, errno);
            }
            else
            {
                Reply(op.Channel, op.Unique, op.Buffer.AsSpan(0, count));
            }
            FuseMetrics.Record("READ", op.Started, errno);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(op.Buffer);
            _reads.Return(op);
        }
    }

    private int ErrnoOf(Exception error, string opcode, ulong nodeId)
    {
        switch (error)
        {
            case FuseException fuse:
                return fuse.Errno;
            case OperationCanceledException:
                return Errno.EINTR;
            default:
                Log.HandlerFailed(_logger, opcode, nodeId, error);
                return Errno.EIO;
        }
    }

    private int HandleOpenDir(Reader reader, in FuseInHeader header)
    {
        if (_fs.DirectoriesNeedNoOpen && Connection!.KernelFlags.HasFlag(FuseInitFlags.NoOpenDirSupport))
        {
            // The kernel takes ENOSYS as "no opendir needed": it stops sending OPENDIR and
            // RELEASEDIR and caches listings as FOPEN_CACHE_DIR would.
            return Errno.ENOSYS;
        }
        var errno = _fs.OpenDirectory(header.NodeId, out var handle, out var flags);
        if (errno != 0)
        {
            return errno;
        }
        var reply = new FuseOpenOut { Fh = handle, OpenFlags = flags & (FuseOpenFlags.CacheDir | FuseOpenFlags.KeepCache) };
        Reply(reader.Channel, header.Unique, in reply);
        return 0;
    }

    private int HandleReadDir(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body, bool plus)
    {
        var request = MemoryMarshal.Read<FuseReadIn>(body);
        var buffer = reader.ReplyBuffer.AsSpan(0, (int)Math.Min(request.Size, (uint)reader.ReplyBuffer.Length));
        var writer = new FuseDirectoryWriter(buffer, plus);
        var errno = _fs.ReadDirectory(header.NodeId, request.Fh, (long)request.Offset, ref writer);
        if (errno != 0)
        {
            return errno;
        }
        Reply(reader.Channel, header.Unique, buffer[..writer.Length]);
        return 0;
    }

    private int HandleReleaseDir(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body) =>
        ReplyEmpty(reader, in header, _fs.ReleaseDirectory(header.NodeId, MemoryMarshal.Read<FuseReleaseIn>(body).Fh));

    private int HandleStatFs(Reader reader, in FuseInHeader header)
    {
        var errno = _fs.StatFs(header.NodeId, out var stat);
        if (errno != 0)
        {
            return errno;
        }
        Reply(reader.Channel, header.Unique, in stat);
        return 0;
    }

    private int HandleGetXattr(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        var request = MemoryMarshal.Read<FuseGetXattrIn>(body);
        var name = NameOf(body[Unsafe.SizeOf<FuseGetXattrIn>()..]);
        var value = XattrBuffer(reader, request.Size);
        return ReplyXattr(reader, in header, request.Size, value, _fs.GetXattr(header.NodeId, name, value, out var length), length);
    }

    private int HandleListXattr(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        var request = MemoryMarshal.Read<FuseGetXattrIn>(body);
        var names = XattrBuffer(reader, request.Size);
        return ReplyXattr(reader, in header, request.Size, names, _fs.ListXattr(header.NodeId, names, out var length), length);
    }

    private static Span<byte> XattrBuffer(Reader reader, uint requested) =>
        reader.ReplyBuffer.AsSpan(0, requested == 0 ? reader.ReplyBuffer.Length : (int)Math.Min(requested, (uint)reader.ReplyBuffer.Length));

    /// <summary>A size probe (size 0) gets the length; a buffer too small gets ERANGE; else the bytes.</summary>
    private int ReplyXattr(Reader reader, in FuseInHeader header, uint requested, Span<byte> value, int errno, int length)
    {
        if (errno != 0)
        {
            return errno;
        }
        if (requested == 0)
        {
            var size = new FuseGetXattrOut { Size = (uint)length };
            Reply(reader.Channel, header.Unique, in size);
            return 0;
        }
        if ((uint)length > requested || length > value.Length)
        {
            return Errno.ERANGE;
        }
        Reply(reader.Channel, header.Unique, value[..length]);
        return 0;
    }

    private int HandleAccess(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body) =>
        ReplyEmpty(reader, in header, _fs.Access(header.NodeId, (int)MemoryMarshal.Read<FuseAccessIn>(body).Mask));

    /// <summary>
    /// Nothing is ever written, so there is nothing to flush. Files opened with FOPEN_NOFLUSH send
    /// none; with zero-message opens they would send one at every close, until an ENOSYS tells the
    /// kernel to stop for the whole connection.
    /// </summary>
    private int HandleFlush(Reader reader, in FuseInHeader header) =>
        ZeroMessageOpens ? Errno.ENOSYS : ReplyEmpty(reader, in header, 0);

    private bool ZeroMessageOpens => _fs.FilesNeedNoOpen && Connection!.KernelFlags.HasFlag(FuseInitFlags.NoOpenSupport);

    private int HandleLSeek(Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        var request = MemoryMarshal.Read<FuseLSeekIn>(body);
        var errno = _fs.Seek(header.NodeId, _passthrough.Translate(request.Fh), (long)request.Offset, (int)request.Whence, out var result);
        if (errno != 0)
        {
            return errno;
        }
        var reply = new FuseLSeekOut { Offset = (ulong)result };
        Reply(reader.Channel, header.Unique, in reply);
        return 0;
    }

    private int HandleInterrupt(ReadOnlySpan<byte> body)
    {
        _reads.Interrupt(MemoryMarshal.Read<FuseInterruptIn>(body).Unique);
        return 0;
    }

    private int ReplyEmpty(Reader reader, in FuseInHeader header, int errno)
    {
        if (errno == 0)
        {
            Reply(reader.Channel, header.Unique, default);
        }
        return errno;
    }

    private static ReadOnlySpan<byte> NameOf(ReadOnlySpan<byte> body)
    {
        var end = body.IndexOf((byte)0);
        return end < 0 ? body : body[..end];
    }
}
