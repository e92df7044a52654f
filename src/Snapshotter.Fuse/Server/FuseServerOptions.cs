using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse;

/// <summary>What the server asks of the kernel at INIT and how it runs.</summary>
public sealed record FuseServerOptions
{
    /// <summary>Reader threads, each on its own queue of the connection (the first on the connection's own fd).</summary>
    public int ReaderThreads { get; init; } = Math.Clamp(Environment.ProcessorCount, 2, 4);

    /// <summary>Upper bound for readahead; the kernel's offer caps it.</summary>
    public uint MaxReadahead { get; init; } = 1024 * 1024;

    /// <summary>Pages per request (MAX_PAGES), so a READ can ask for up to this many 4 KiB pages.</summary>
    public ushort MaxPages { get; init; } = 256;

    public ushort MaxBackground { get; init; } = 64;

    public ushort CongestionThreshold { get; init; } = 48;

    /// <summary>Largest WRITE the kernel may send; writes are refused (EROFS), so this only sizes buffers.</summary>
    public uint MaxWrite { get; init; } = 128 * 1024;

    /// <summary>Timestamp granularity in nanoseconds.</summary>
    public uint TimeGranularity { get; init; } = 1;

    /// <summary>Ask for FUSE passthrough (kernel 6.9+), so opens that name a backing file bypass user space.</summary>
    public bool Passthrough { get; init; } = true;

    /// <summary>Ask for EXPORT_SUPPORT: the file system then answers LOOKUP of "." and "..".</summary>
    public bool ExportSupport { get; init; }

    /// <summary>
    /// The parameters a previous server negotiated on this connection. The kernel sends INIT once
    /// per connection, so a server started on an inherited /dev/fuse fd must be given them; the
    /// server then serves at once without waiting for INIT.
    /// </summary>
    public FuseConnectionParameters? Negotiated { get; init; }

    /// <summary>How long <see cref="FuseServer.Stop"/> waits for reads in flight before cancelling them.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>The outcome of INIT: what both sides agreed on for this connection (<see cref="Flags"/>) and what the kernel offered.</summary>
public sealed record FuseConnectionParameters(
    uint Major,
    uint Minor,
    FuseInitFlags Flags,
    uint MaxReadahead,
    uint MaxWrite,
    ushort MaxPages,
    uint TimeGranularity,
    FuseInitFlags KernelFlags = FuseInitFlags.None)
{
    /// <summary>True when the kernel offered passthrough, whether or not it was asked for.</summary>
    public bool KernelSupportsPassthrough => KernelFlags.HasFlag(FuseInitFlags.Passthrough);

    /// <summary>The largest READ the kernel will send.</summary>
    public int MaxRead => Math.Max(MaxPages, (ushort)32) * FuseConstants.PageSize;

    public bool Passthrough => Flags.HasFlag(FuseInitFlags.Passthrough);
}
