using Microsoft.Extensions.Logging;

namespace Snapshotter.Fuse;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Error, "FUSE {Opcode} on node {NodeId} failed; answered EIO")]
    public static partial void HandlerFailed(ILogger logger, string opcode, ulong nodeId, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "FUSE reader {Reader} stopped by an error")]
    public static partial void ReaderFailed(ILogger logger, int reader, Exception exception);

    [LoggerMessage(3, LogLevel.Information, "FUSE connection initialized: protocol 7.{Minor} (kernel 7.{KernelMinor}), flags {Flags}, max_readahead {MaxReadahead}, max_pages {MaxPages}")]
    public static partial void Initialized(ILogger logger, uint minor, uint kernelMinor, string flags, uint maxReadahead, ushort maxPages);

    [LoggerMessage(4, LogLevel.Warning, "FUSE passthrough backing file for node {NodeId} refused (errno {Errno}); reads go through user space")]
    public static partial void PassthroughRefused(ILogger logger, ulong nodeId, int errno);

    [LoggerMessage(5, LogLevel.Debug, "FUSE opcode {Opcode} not implemented; answered ENOSYS")]
    public static partial void Unsupported(ILogger logger, uint opcode);

    [LoggerMessage(6, LogLevel.Warning, "FUSE {Opcode} request too short ({Length} bytes); answered EINVAL")]
    public static partial void Malformed(ILogger logger, string opcode, int length);

    [LoggerMessage(7, LogLevel.Debug, "FUSE reply to {Unique} not delivered: errno {Errno}")]
    public static partial void ReplyFailed(ILogger logger, ulong unique, int errno);

    [LoggerMessage(8, LogLevel.Warning, "FUSE server stop: {Count} reads still in flight after the timeout; cancelling them")]
    public static partial void StopCancelling(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Error, "FUSE INIT refused: kernel protocol {Major}.{Minor} is older than 7.{MinMinor}")]
    public static partial void ProtocolTooOld(ILogger logger, uint major, uint minor, uint minMinor);

    [LoggerMessage(10, LogLevel.Warning, "Stale FUSE mount at {MountPoint} detached")]
    public static partial void StaleMountDetached(ILogger logger, string mountPoint);

    [LoggerMessage(12, LogLevel.Warning, "FUSE queue {Index} could not be cloned; serving with {Index} reader threads")]
    public static partial void CloneFailed(ILogger logger, int index, Exception exception);

    [LoggerMessage(11, LogLevel.Information, "mount(2) of {MountPoint} refused (errno {Errno}); trying fusermount3")]
    public static partial void MountFallback(ILogger logger, string mountPoint, int errno);

    [LoggerMessage(15, LogLevel.Information, "FUSE server handing over: {Count} reads still in flight are left to the next server")]
    public static partial void StopLeavingUnanswered(ILogger logger, int count);

    [LoggerMessage(13, LogLevel.Information, "FUSE connection resumed; the kernel resends the requests the previous server left unanswered")]
    public static partial void ResendRequested(ILogger logger);

    [LoggerMessage(14, LogLevel.Warning, "FUSE connection resumed, but the kernel refused FUSE_NOTIFY_RESEND (errno {Errno}, resend offered at INIT: {Offered}); requests the previous server left unanswered stay blocked")]
    public static partial void ResendRefused(ILogger logger, int errno, bool offered);
}
