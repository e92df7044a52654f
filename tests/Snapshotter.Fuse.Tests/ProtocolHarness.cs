using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse.Tests;

/// <summary>Plays the kernel over an <see cref="InMemoryFuseTransport"/>: builds requests, decodes replies.</summary>
internal sealed class ProtocolHarness : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private long _unique = 2;

    public ProtocolHarness(FuseServerOptions? options = null, bool initialize = true, TestFileSystem? fs = null, InMemoryFuseTransport? transport = null)
    {
        Transport = transport ?? new InMemoryFuseTransport();
        Fs = fs ?? new TestFileSystem();
        Server = new FuseServer(Transport, Fs, options ?? new FuseServerOptions { ReaderThreads = 2 }, Logger);
        Server.Start();
        if (initialize)
        {
            var reply = Init();
            Assert.Equal(0, reply.Error);
        }
    }

    public InMemoryFuseTransport Transport { get; }
    public TestFileSystem Fs { get; }
    public FuseServer Server { get; }
    public CapturingLogger Logger { get; } = new();

    /// <summary>Every flag a 6.18 kernel offers, in the 64-bit form.</summary>
    public static FuseInitFlags KernelFlags =>
        FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.AtomicOTrunc | FuseInitFlags.ExportSupport |
        FuseInitFlags.BigWrites | FuseInitFlags.DontMask | FuseInitFlags.SpliceWrite | FuseInitFlags.SpliceMove |
        FuseInitFlags.SpliceRead | FuseInitFlags.FlockLocks | FuseInitFlags.HasIoctlDir | FuseInitFlags.AutoInvalData |
        FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto | FuseInitFlags.AsyncDio | FuseInitFlags.WritebackCache |
        FuseInitFlags.NoOpenSupport | FuseInitFlags.ParallelDirOps | FuseInitFlags.HandleKillPriv | FuseInitFlags.PosixAcl |
        FuseInitFlags.AbortError | FuseInitFlags.MaxPages | FuseInitFlags.CacheSymlinks | FuseInitFlags.NoOpenDirSupport |
        FuseInitFlags.ExplicitInvalData | FuseInitFlags.InitExt | FuseInitFlags.SecurityContext | FuseInitFlags.CreateSuppGroup |
        FuseInitFlags.HasExpireOnly | FuseInitFlags.DirectIoAllowMmap | FuseInitFlags.Passthrough | FuseInitFlags.NoExportSupport;

    public Reply Init(uint major = 7, uint minor = 44, FuseInitFlags? offered = null, uint maxReadahead = 128 * 1024)
    {
        var flags = (ulong)(offered ?? KernelFlags);
        var init = new FuseInitIn { Major = major, Minor = minor, MaxReadahead = maxReadahead, Flags = (uint)flags, Flags2 = (uint)(flags >> 32) };
        return Call(FuseOpcode.Init, 0, Bytes(in init));
    }

    public ulong Send(FuseOpcode opcode, ulong nodeId, ReadOnlySpan<byte> body, ulong? unique = null)
    {
        var id = unique ?? (ulong)Interlocked.Add(ref _unique, 2);
        var request = new byte[FuseInHeader.Size + body.Length];
        var header = new FuseInHeader { Length = (uint)request.Length, Opcode = opcode, Unique = id, NodeId = nodeId, Pid = 42 };
        MemoryMarshal.Write(request, in header);
        body.CopyTo(request.AsSpan(FuseInHeader.Size));
        Transport.Send(request);
        return id;
    }

    public Reply Receive()
    {
        var raw = Transport.Receive(Timeout) ?? throw new TimeoutException("no reply from the server");
        var header = MemoryMarshal.Read<FuseOutHeader>(raw);
        Assert.Equal((uint)raw.Length, header.Length);
        return new Reply(header.Error, header.Unique, raw[FuseOutHeader.Size..]);
    }

    /// <summary>True when no reply arrives within <paramref name="wait"/>.</summary>
    public bool Silent(TimeSpan wait) => Transport.Receive(wait) is null;

    public Reply Call(FuseOpcode opcode, ulong nodeId, ReadOnlySpan<byte> body)
    {
        var unique = Send(opcode, nodeId, body);
        var reply = Receive();
        Assert.Equal(unique, reply.Unique);
        return reply;
    }

    public Reply Call<T>(FuseOpcode opcode, ulong nodeId, in T body, string? name = null)
        where T : unmanaged =>
        Call(opcode, nodeId, Bytes(in body, name));

    public static byte[] Bytes<T>(in T value, string? name = null)
        where T : unmanaged
    {
        var fixedPart = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value));
        return name is null ? fixedPart.ToArray() : [.. fixedPart, .. Name(name)];
    }

    public static byte[] Name(string name) => [.. Encoding.UTF8.GetBytes(name), 0];

    public FuseEntry Lookup(ulong parent, string name)
    {
        var reply = Call(FuseOpcode.Lookup, parent, Name(name));
        Assert.Equal(0, reply.Error);
        return reply.As<FuseEntry>();
    }

    public void Dispose()
    {
        Server.Stop();
        Transport.Dispose();
    }
}

internal sealed record Reply(int Error, ulong Unique, byte[] Payload)
{
    public T As<T>()
        where T : unmanaged
    {
        Assert.Equal(Unsafe.SizeOf<T>(), Payload.Length);
        return MemoryMarshal.Read<T>(Payload);
    }
}

internal sealed class CapturingLogger : ILogger<FuseServer>
{
    public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception), exception));
}
