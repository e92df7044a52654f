using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse.Tests;

/// <summary>Protocol handling over the in-memory transport: no kernel involved.</summary>
public class ProtocolTests
{
    private static ProtocolHarness WithTree(out TestFileSystem fs, FuseServerOptions? options = null)
    {
        fs = new TestFileSystem();
        var dir = fs.AddDirectory(fs.Root, "dir");
        fs.AddFile(dir, "hello.txt", Encoding.UTF8.GetBytes("hello, world\n"));
        fs.AddSymlink(fs.Root, "link", "dir/hello.txt");
        fs.AddFile(fs.Root, "big", Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray());
        fs.Root.Xattrs["user.origin"] = Encoding.UTF8.GetBytes("test");
        fs.Root.Xattrs["user.empty"] = [];
        return new ProtocolHarness(options, fs: fs);
    }

    [Fact]
    public void Init_negotiates_what_both_sides_support()
    {
        using var h = new ProtocolHarness(initialize: false);
        var reply = h.Init(minor: 44, maxReadahead: 128 * 1024);
        Assert.Equal(0, reply.Error);
        var init = reply.As<FuseInitOut>();
        Assert.Equal(7u, init.Major);
        Assert.Equal(FuseConstants.MaxMinorVersion, init.Minor);
        var flags = (FuseInitFlags)(init.Flags | ((ulong)init.Flags2 << 32));
        var expected = FuseInitFlags.AsyncRead | FuseInitFlags.ParallelDirOps | FuseInitFlags.DoReadDirPlus |
            FuseInitFlags.ReadDirPlusAuto | FuseInitFlags.MaxPages | FuseInitFlags.CacheSymlinks | FuseInitFlags.AsyncDio |
            FuseInitFlags.InitExt | FuseInitFlags.Passthrough;
        Assert.Equal(expected, flags);
        Assert.Equal(128u * 1024, init.MaxReadahead);
        Assert.Equal((ushort)256, init.MaxPages);
        Assert.Equal(1u, init.TimeGran);
        Assert.Equal(1u, init.MaxStackDepth);
        Assert.Equal(128u * 1024, init.MaxWrite);
        Assert.True(h.Server.Initialized.IsCompletedSuccessfully);
        Assert.Equal(expected, h.Server.Connection!.Flags);
        Assert.True(h.Server.Connection.Passthrough);
        Assert.Equal(1024 * 1024, h.Server.Connection.MaxRead);
    }

    [Fact]
    public void Init_with_an_older_kernel_keeps_its_minor_and_skips_what_it_lacks()
    {
        using var h = new ProtocolHarness(new FuseServerOptions { ExportSupport = true, ReaderThreads = 1 }, initialize: false);
        var offered = FuseInitFlags.AsyncRead | FuseInitFlags.ExportSupport | FuseInitFlags.DoReadDirPlus;
        var init = h.Init(minor: 31, offered: offered, maxReadahead: 4 * 1024 * 1024).As<FuseInitOut>();
        Assert.Equal(31u, init.Minor);
        Assert.Equal((uint)offered, init.Flags);
        Assert.Equal(0u, init.Flags2);
        Assert.Equal(0u, init.MaxStackDepth);
        Assert.Equal(1024u * 1024, init.MaxReadahead);
        Assert.False(h.Server.Connection!.Passthrough);
    }

    [Fact]
    public void Init_refuses_a_protocol_older_than_7_12()
    {
        using var h = new ProtocolHarness(initialize: false);
        Assert.Equal(-Errno.EPROTO, h.Init(major: 7, minor: 8).Error);
        Assert.Null(h.Server.Connection);
        Assert.Equal(-Errno.EIO, h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).Error);
    }

    [Fact]
    public void Init_answers_a_newer_major_with_its_own()
    {
        using var h = new ProtocolHarness(initialize: false);
        var reply = h.Init(major: 8, minor: 0);
        Assert.Equal(0, reply.Error);
        Assert.Equal(8, reply.Payload.Length);
        Assert.Equal(7u, BinaryPrimitives.ReadUInt32LittleEndian(reply.Payload));
        Assert.Null(h.Server.Connection);
        Assert.Equal(0, h.Init().Error);
    }

    [Fact]
    public void Init_starts_one_reader_per_queue()
    {
        using var h = new ProtocolHarness(new FuseServerOptions { ReaderThreads = 3 });
        Assert.Equal(3, h.Transport.ChannelsOpened);
    }

    [Fact]
    public void Init_serves_with_fewer_readers_when_queues_cannot_be_cloned()
    {
        using var h = new ProtocolHarness(new FuseServerOptions { ReaderThreads = 3 }, transport: new InMemoryFuseTransport { CloneLimit = 1 });
        Assert.Equal(2, h.Transport.ChannelsOpened);
        Assert.Contains(h.Logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("cloned", StringComparison.Ordinal));
        Assert.Equal(0, h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).Error);
    }

    [Fact]
    public async Task Lookup_forget_and_batch_forget_keep_the_lookup_count()
    {
        using var h = WithTree(out var fs);
        var dir = h.Lookup(1, "dir");
        Assert.Equal(TestFileSystem.DirMode, dir.Attr.Mode);
        Assert.Equal(1UL, dir.EntryValid);
        var file = h.Lookup(dir.NodeId, "hello.txt");
        Assert.Equal(13UL, file.Attr.Size);
        h.Lookup(dir.NodeId, "hello.txt");
        Assert.Equal(2, fs.LookupCount(file.NodeId));
        Assert.Equal(-Errno.ENOENT, h.Call(FuseOpcode.Lookup, 1, ProtocolHarness.Name("missing")).Error);

        h.Send(FuseOpcode.Forget, file.NodeId, ProtocolHarness.Bytes(new FuseForgetIn { NLookup = 1 }));
        var batch = ProtocolHarness.Bytes(new FuseBatchForgetIn { Count = 2 })
            .Concat(ProtocolHarness.Bytes(new FuseForgetOne { NodeId = file.NodeId, NLookup = 1 }))
            .Concat(ProtocolHarness.Bytes(new FuseForgetOne { NodeId = dir.NodeId, NLookup = 1 })).ToArray();
        h.Send(FuseOpcode.BatchForget, 0, batch);
        // FORGET has no reply: the next reply answers the next request.
        Assert.Equal(0, h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).Error);
        // Another reader thread may still be handling the forgets.
        await Eventually.True(() => fs.LookupCount(file.NodeId) == 0 && fs.LookupCount(dir.NodeId) == 0);
    }

    [Fact]
    public void GetAttr_ReadLink_StatFs_Access_Flush()
    {
        using var h = WithTree(out _);
        var attr = h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).As<FuseAttrOut>();
        Assert.Equal(1UL, attr.Attr.Ino);
        Assert.Equal(TestFileSystem.DirMode, attr.Attr.Mode);
        Assert.Equal(1UL, attr.AttrValid);
        Assert.Equal(-Errno.ENOENT, h.Call(FuseOpcode.GetAttr, 999, new FuseGetAttrIn()).Error);

        var link = h.Lookup(1, "link");
        Assert.Equal("dir/hello.txt", Encoding.UTF8.GetString(h.Call(FuseOpcode.ReadLink, link.NodeId, []).Payload));

        var stat = h.Call(FuseOpcode.StatFs, 1, []).As<FuseStatFs>();
        Assert.Equal(4096u, stat.BlockSize);
        Assert.Equal(255u, stat.NameLength);

        Assert.Equal(0, h.Call(FuseOpcode.Access, 1, new FuseAccessIn { Mask = 4 }).Error);
        Assert.Equal(-Errno.EROFS, h.Call(FuseOpcode.Access, 1, new FuseAccessIn { Mask = 2 }).Error);
        var flush = h.Call(FuseOpcode.Flush, 1, new FuseFlushIn());
        Assert.Equal(0, flush.Error);
        Assert.Empty(flush.Payload);
    }

    [Fact]
    public void Open_read_lseek_release()
    {
        using var h = WithTree(out var fs);
        var big = h.Lookup(1, "big");
        var open = h.Call(FuseOpcode.Open, big.NodeId, new FuseOpenIn()).As<FuseOpenOut>();
        Assert.Equal(FuseOpenFlags.KeepCache, open.OpenFlags);
        var content = fs.Get(big.NodeId).Content;

        var read = h.Call(FuseOpcode.Read, big.NodeId, new FuseReadIn { Fh = open.Fh, Offset = 4096, Size = 131072 });
        Assert.Equal(0, read.Error);
        Assert.Equal(content.AsSpan(4096, 131072).ToArray(), read.Payload);
        var tail = h.Call(FuseOpcode.Read, big.NodeId, new FuseReadIn { Fh = open.Fh, Offset = 299_990, Size = 4096 });
        Assert.Equal(content.AsSpan(299_990).ToArray(), tail.Payload);
        Assert.Empty(h.Call(FuseOpcode.Read, big.NodeId, new FuseReadIn { Fh = open.Fh, Offset = 400_000, Size = 4096 }).Payload);

        Assert.Equal(300_000UL, h.Call(FuseOpcode.LSeek, big.NodeId, new FuseLSeekIn { Fh = open.Fh, Offset = 10, Whence = 4 }).As<FuseLSeekOut>().Offset);
        Assert.Equal(10UL, h.Call(FuseOpcode.LSeek, big.NodeId, new FuseLSeekIn { Fh = open.Fh, Offset = 10, Whence = 3 }).As<FuseLSeekOut>().Offset);

        Assert.Equal(0, h.Call(FuseOpcode.Release, big.NodeId, new FuseReleaseIn { Fh = open.Fh }).Error);
        Assert.Equal(big.NodeId, fs.Released[open.Fh]);
        Assert.Equal(-Errno.EISDIR, h.Call(FuseOpcode.Open, 1, new FuseOpenIn()).Error);
    }

    [Fact]
    public void ReadDir_and_ReadDirPlus_pack_entries_and_resume_at_the_offset()
    {
        using var h = WithTree(out var fs);
        var open = h.Call(FuseOpcode.OpenDir, 1, new FuseOpenIn()).As<FuseOpenOut>();
        Assert.Equal(FuseOpenFlags.CacheDir, open.OpenFlags);

        var all = ParseDirents(h.Call(FuseOpcode.ReadDir, 1, new FuseReadIn { Fh = open.Fh, Size = 4096 }).Payload, plus: false);
        Assert.Equal([".", "..", "big", "dir", "link"], all.Select(e => e.Name));
        Assert.Equal([1UL, 2UL, 3UL, 4UL, 5UL], all.Select(e => e.Off));
        Assert.Equal(4u, all.Single(e => e.Name == "dir").Type); // DT_DIR
        Assert.Equal(10u, all.Single(e => e.Name == "link").Type); // DT_LNK

        // A small buffer takes what fits; the next call resumes at the last offset.
        var first = ParseDirents(h.Call(FuseOpcode.ReadDir, 1, new FuseReadIn { Fh = open.Fh, Size = 64 }).Payload, plus: false);
        Assert.Equal([".", ".."], first.Select(e => e.Name));
        var rest = ParseDirents(h.Call(FuseOpcode.ReadDir, 1, new FuseReadIn { Fh = open.Fh, Offset = first[^1].Off, Size = 4096 }).Payload, plus: false);
        Assert.Equal(["big", "dir", "link"], rest.Select(e => e.Name));

        var plus = ParseDirents(h.Call(FuseOpcode.ReadDirPlus, 1, new FuseReadIn { Fh = open.Fh, Size = 4096 }).Payload, plus: true);
        Assert.Equal([".", "..", "big", "dir", "link"], plus.Select(e => e.Name));
        var dirEntry = plus.Single(e => e.Name == "dir").Entry;
        Assert.Equal(TestFileSystem.DirMode, dirEntry.Attr.Mode);
        Assert.Equal(1, fs.LookupCount(dirEntry.NodeId));
        Assert.Equal(0UL, plus[0].Entry.NodeId);

        Assert.Equal(0, h.Call(FuseOpcode.ReleaseDir, 1, new FuseReleaseIn { Fh = open.Fh }).Error);
        Assert.Equal(0, fs.OpenDirectories);
    }

    [Fact]
    public void GetXattr_and_ListXattr_answer_probes_values_and_errors()
    {
        using var h = WithTree(out _);
        var probe = h.Call(FuseOpcode.GetXattr, 1, ProtocolHarness.Bytes(new FuseGetXattrIn { Size = 0 }, "user.origin"));
        Assert.Equal(4u, probe.As<FuseGetXattrOut>().Size);
        var value = h.Call(FuseOpcode.GetXattr, 1, ProtocolHarness.Bytes(new FuseGetXattrIn { Size = 100 }, "user.origin"));
        Assert.Equal("test", Encoding.UTF8.GetString(value.Payload));
        Assert.Equal(-Errno.ERANGE, h.Call(FuseOpcode.GetXattr, 1, ProtocolHarness.Bytes(new FuseGetXattrIn { Size = 2 }, "user.origin")).Error);
        Assert.Equal(-Errno.ENODATA, h.Call(FuseOpcode.GetXattr, 1, ProtocolHarness.Bytes(new FuseGetXattrIn { Size = 100 }, "user.none")).Error);
        var empty = h.Call(FuseOpcode.GetXattr, 1, ProtocolHarness.Bytes(new FuseGetXattrIn { Size = 100 }, "user.empty"));
        Assert.Equal(0, empty.Error);
        Assert.Empty(empty.Payload);

        Assert.Equal(23u, h.Call(FuseOpcode.ListXattr, 1, new FuseGetXattrIn { Size = 0 }).As<FuseGetXattrOut>().Size);
        var list = h.Call(FuseOpcode.ListXattr, 1, new FuseGetXattrIn { Size = 4096 });
        Assert.Equal("user.empty\0user.origin\0", Encoding.UTF8.GetString(list.Payload));
        Assert.Equal(-Errno.ERANGE, h.Call(FuseOpcode.ListXattr, 1, new FuseGetXattrIn { Size = 5 }).Error);
    }

    [Theory]
    [InlineData(99u)]
    [InlineData((uint)FuseOpcode.Ioctl)]
    [InlineData((uint)FuseOpcode.GetLk)]
    [InlineData((uint)FuseOpcode.Statx)]
    [InlineData(4096u)]
    public void Unknown_opcodes_answer_ENOSYS(uint opcode)
    {
        using var h = WithTree(out _);
        Assert.Equal(-Errno.ENOSYS, h.Call((FuseOpcode)opcode, 1, new byte[16]).Error);
    }

    public static TheoryData<uint> WriteOpcodes() => new(FuseServer.WriteOpcodes.Select(o => (uint)o));

    [Theory]
    [MemberData(nameof(WriteOpcodes))]
    public void Write_opcodes_answer_EROFS(uint opcode)
    {
        using var h = WithTree(out _);
        Assert.Equal(-Errno.EROFS, h.Call((FuseOpcode)opcode, 1, new byte[64]).Error);
    }

    [Fact]
    public void A_short_request_body_answers_EINVAL()
    {
        using var h = WithTree(out _);
        Assert.Equal(-Errno.EINVAL, h.Call(FuseOpcode.Read, 1, new byte[8]).Error);
    }

    [Fact]
    public void A_handler_exception_answers_EIO_and_is_logged()
    {
        using var h = WithTree(out var fs);
        fs.ThrowOnLookup.Add("boom");
        Assert.Equal(-Errno.EIO, h.Call(FuseOpcode.Lookup, 1, ProtocolHarness.Name("boom")).Error);
        var logged = Assert.Single(h.Logger.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains("LOOKUP", logged.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(logged.Exception);
        // The server goes on serving.
        Assert.Equal(0, h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).Error);
    }

    [Fact]
    public void A_failing_read_answers_its_errno_or_EIO()
    {
        using var h = WithTree(out var fs);
        var big = h.Lookup(1, "big");
        fs.ReadHook = (node, offset, buffer, ct) => offset == 0
            ? throw new FuseException(Errno.EAGAIN, "not yet")
            : ValueTask.FromException<int>(new InvalidDataException("bad chunk"));
        Assert.Equal(-Errno.EAGAIN, h.Call(FuseOpcode.Read, big.NodeId, new FuseReadIn { Size = 10 }).Error);
        Assert.Equal(-Errno.EIO, h.Call(FuseOpcode.Read, big.NodeId, new FuseReadIn { Offset = 10, Size = 10 }).Error);
        Assert.Contains(h.Logger.Entries, e => e.Level == LogLevel.Error && e.Exception is InvalidDataException);
    }

    [Fact]
    public async Task Reads_complete_out_of_order_without_blocking_the_readers()
    {
        using var h = WithTree(out var fs, new FuseServerOptions { ReaderThreads = 1 });
        var big = h.Lookup(1, "big");
        var gates = new Dictionary<long, TaskCompletionSource>
        {
            [0] = new(TaskCreationOptions.RunContinuationsAsynchronously),
            [4096] = new(TaskCreationOptions.RunContinuationsAsynchronously),
        };
        fs.ReadHook = async (node, offset, buffer, ct) =>
        {
            await gates[offset].Task.WaitAsync(ct);
            return node.CopyTo(offset, buffer.Span);
        };
        var first = h.Send(FuseOpcode.Read, big.NodeId, ProtocolHarness.Bytes(new FuseReadIn { Offset = 0, Size = 4096 }));
        var second = h.Send(FuseOpcode.Read, big.NodeId, ProtocolHarness.Bytes(new FuseReadIn { Offset = 4096, Size = 4096 }));
        // With a single reader thread and both reads pending, other requests are still answered.
        Assert.Equal(0, h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).Error);
        Assert.Equal(2, h.Server.ReadsInFlight);

        gates[4096].SetResult();
        var reply = h.Receive();
        Assert.Equal(second, reply.Unique);
        Assert.Equal(fs.Get(big.NodeId).Content.AsSpan(4096, 4096).ToArray(), reply.Payload);
        gates[0].SetResult();
        reply = h.Receive();
        Assert.Equal(first, reply.Unique);
        Assert.Equal(fs.Get(big.NodeId).Content.AsSpan(0, 4096).ToArray(), reply.Payload);
        await Eventually.True(() => h.Server.ReadsInFlight == 0);
    }

    [Fact]
    public async Task Interrupt_cancels_a_pending_read_with_EINTR()
    {
        using var h = WithTree(out var fs);
        var big = h.Lookup(1, "big");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fs.ReadHook = async (node, offset, buffer, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return 0;
        };
        var read = h.Send(FuseOpcode.Read, big.NodeId, ProtocolHarness.Bytes(new FuseReadIn { Size = 4096 }));
        await started.Task.WaitAsync(ProtocolHarness.Timeout, TestContext.Current.CancellationToken);
        Assert.True(h.Silent(TimeSpan.FromMilliseconds(100)));
        // INTERRUPT carries its own unique (the read's with bit 0 set) and gets no reply itself.
        h.Send(FuseOpcode.Interrupt, 0, ProtocolHarness.Bytes(new FuseInterruptIn { Unique = read }), unique: read | 1);
        var reply = h.Receive();
        Assert.Equal(read, reply.Unique);
        Assert.Equal(-Errno.EINTR, reply.Error);
    }

    [Fact]
    public void An_interrupt_for_a_finished_request_is_ignored()
    {
        using var h = WithTree(out _);
        h.Send(FuseOpcode.Interrupt, 0, ProtocolHarness.Bytes(new FuseInterruptIn { Unique = 12345 }), unique: 12345 | 1);
        Assert.Equal(0, h.Call(FuseOpcode.GetAttr, 1, new FuseGetAttrIn()).Error);
        Assert.True(h.Silent(TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public void Open_with_a_backing_file_answers_passthrough_and_release_closes_it()
    {
        using var dir = new Snapshotter.Testing.TempDirectory();
        var backing = dir.Combine("backing");
        File.WriteAllText(backing, "cached contents");
        using var h = WithTree(out var fs);
        var node = fs.AddBackedFile(fs.Root, "cached", backing);
        var open = h.Call(FuseOpcode.Open, node.Id, new FuseOpenIn()).As<FuseOpenOut>();
        Assert.Equal(FuseOpenFlags.Passthrough, open.OpenFlags); // KEEP_CACHE dropped: it conflicts
        var registered = Assert.Single(h.Transport.BackingFiles);
        Assert.Equal(registered.Key, open.BackingId);
        Assert.True(registered.Value.IsClosed); // the server closed its copy after registering
        Assert.NotEqual(0UL, open.Fh & (1UL << 63));

        Assert.Equal(0, h.Call(FuseOpcode.Release, node.Id, new FuseReleaseIn { Fh = open.Fh }).Error);
        Assert.Empty(h.Transport.BackingFiles);
        var fsHandle = Assert.Single(fs.Released, r => r.Value == node.Id).Key;
        Assert.Equal(0UL, fsHandle & (1UL << 63));
    }

    [Fact]
    public void Open_with_a_backing_file_without_passthrough_reads_through_the_server()
    {
        using var dir = new Snapshotter.Testing.TempDirectory();
        var backing = dir.Combine("backing");
        File.WriteAllText(backing, "cached contents");
        using var h = WithTree(out var fs, new FuseServerOptions { Passthrough = false, ReaderThreads = 1 });
        var node = fs.AddBackedFile(fs.Root, "cached", backing);
        var open = h.Call(FuseOpcode.Open, node.Id, new FuseOpenIn()).As<FuseOpenOut>();
        Assert.Equal(FuseOpenFlags.KeepCache, open.OpenFlags);
        Assert.Empty(h.Transport.BackingFiles);
        var read = h.Call(FuseOpcode.Read, node.Id, new FuseReadIn { Fh = open.Fh, Size = 100 });
        Assert.Equal("cached contents", Encoding.UTF8.GetString(read.Payload));
    }

    [Fact]
    public void A_server_resuming_a_negotiated_connection_serves_without_INIT()
    {
        FuseConnectionParameters negotiated;
        var fs = new TestFileSystem();
        fs.AddFile(fs.Root, "f", [1, 2, 3]);
        using (var first = new ProtocolHarness(fs: fs))
        {
            negotiated = first.Server.Connection!;
        }
        using var transport = new InMemoryFuseTransport();
        using var server = new FuseServer(transport, fs, new FuseServerOptions { Negotiated = negotiated, ReaderThreads = 2 });
        server.Start();
        Assert.True(server.Initialized.IsCompletedSuccessfully);
        Assert.Same(negotiated, server.Connection);
        Assert.Equal(2, transport.ChannelsOpened);
        // Before serving, the kernel is asked to resend what the previous server left unanswered.
        var resend = transport.Receive(ProtocolHarness.Timeout)!;
        Assert.Equal(FuseOutHeader.Size, resend.Length);
        Assert.Equal(new FuseOutHeader { Length = FuseOutHeader.Size, Error = 7, Unique = 0 }, MemoryMarshal.Read<FuseOutHeader>(resend));
        var request = new byte[FuseInHeader.Size + ProtocolHarness.Name("f").Length];
        var header = new FuseInHeader { Length = (uint)request.Length, Opcode = FuseOpcode.Lookup, Unique = 8, NodeId = 1 };
        MemoryMarshal.Write(request, in header);
        ProtocolHarness.Name("f").CopyTo(request, FuseInHeader.Size);
        transport.Send(request);
        var reply = transport.Receive(ProtocolHarness.Timeout)!;
        Assert.Equal(0, MemoryMarshal.Read<FuseOutHeader>(reply).Error);
        Assert.Equal(3UL, MemoryMarshal.Read<FuseEntry>(reply.AsSpan(FuseOutHeader.Size)).Attr.Size);
    }

    [Fact]
    public async Task Stop_answers_reads_in_flight_first()
    {
        var h = WithTree(out var fs);
        var big = h.Lookup(1, "big");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fs.ReadHook = async (node, offset, buffer, ct) =>
        {
            await gate.Task;
            return node.CopyTo(offset, buffer.Span);
        };
        var read = h.Send(FuseOpcode.Read, big.NodeId, ProtocolHarness.Bytes(new FuseReadIn { Size = 16 }));
        var ct = TestContext.Current.CancellationToken;
        await Task.Delay(50, ct);
        var stop = Task.Run(h.Server.Stop, ct);
        await Task.Delay(100, ct);
        Assert.False(stop.IsCompleted);
        gate.SetResult();
        await stop.WaitAsync(ProtocolHarness.Timeout, ct);
        var reply = h.Receive();
        Assert.Equal(read, reply.Unique);
        Assert.Equal(16, reply.Payload.Length);
        Assert.True(h.Server.Completion.IsCompletedSuccessfully);
        h.Transport.Dispose();
    }

    [Fact]
    public async Task Closing_the_connection_completes_the_server()
    {
        using var h = WithTree(out _);
        h.Transport.Close();
        await h.Server.Completion.WaitAsync(ProtocolHarness.Timeout, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Destroy_is_answered_and_ends_serving()
    {
        using var h = WithTree(out _);
        Assert.Equal(0, h.Call(FuseOpcode.Destroy, 0, []).Error);
        await h.Server.Completion.WaitAsync(ProtocolHarness.Timeout, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Notifications_carry_unique_zero_and_their_code()
    {
        using var h = WithTree(out _);
        Assert.Equal(0, h.Server.NotifyInvalidateInode(5, 0, -1));
        var inode = h.Receive();
        Assert.Equal(0UL, inode.Unique);
        Assert.Equal(2, inode.Error);
        var body = inode.As<FuseNotifyInvalInodeOut>();
        Assert.Equal(5UL, body.Ino);
        Assert.Equal(-1L, body.Length);

        Assert.Equal(0, h.Server.NotifyInvalidateEntry(1, "dir"u8));
        var entry = h.Receive();
        Assert.Equal(3, entry.Error);
        var fixedPart = MemoryMarshal.Read<FuseNotifyInvalEntryOut>(entry.Payload);
        Assert.Equal(1UL, fixedPart.Parent);
        Assert.Equal(3u, fixedPart.NameLength);
        Assert.Equal("dir\0"u8.ToArray(), entry.Payload[Unsafe.SizeOf<FuseNotifyInvalEntryOut>()..]);
    }

    internal static List<(string Name, ulong Off, uint Type, FuseEntry Entry)> ParseDirents(byte[] payload, bool plus)
    {
        var result = new List<(string, ulong, uint, FuseEntry)>();
        var position = 0;
        while (position < payload.Length)
        {
            var entry = plus ? MemoryMarshal.Read<FuseEntry>(payload.AsSpan(position)) : default;
            var direntAt = position + (plus ? Unsafe.SizeOf<FuseEntry>() : 0);
            var dirent = MemoryMarshal.Read<FuseDirent>(payload.AsSpan(direntAt));
            var name = Encoding.UTF8.GetString(payload, direntAt + FuseDirent.NameOffset, (int)dirent.NameLength);
            result.Add((name, dirent.Off, dirent.Type, entry));
            position = (direntAt + FuseDirent.NameOffset + (int)dirent.NameLength + 7) & ~7;
        }
        return result;
    }
}
