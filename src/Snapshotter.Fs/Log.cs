using Microsoft.Extensions.Logging;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Error, "Layer {Layer}: chunk at file offset {FileOffset} of '{Path}' failed verification; answered EIO")]
    public static partial void VerificationFailed(ILogger logger, Digest layer, string path, long fileOffset, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "Layer {Layer}: {Kind} fetch of {Bytes} bytes from '{Path}' on failed ({Reason}); waiting reads answered EIO")]
    public static partial void ChunkReadFailed(ILogger logger, Digest layer, string path, string kind, long bytes, string reason, Exception exception);

    [LoggerMessage(9, LogLevel.Warning, "Layer {Layer}: a verified chunk of '{Path}' could not be stored; it is served and will be fetched again when needed")]
    public static partial void StoreFailed(ILogger logger, Digest layer, string path, Exception exception);

    [LoggerMessage(3, LogLevel.Error, "Layer {Layer}: chunk at file offset {FileOffset} of '{Path}' is {Size} bytes, above the limit of {Limit}; answered EIO")]
    public static partial void ChunkTooLarge(ILogger logger, Digest layer, string path, long fileOffset, long size, long limit);

    [LoggerMessage(4, LogLevel.Information, "Layer {Layer} mounted at {MountPoint}: {Nodes} inodes, {Bytes} bytes of files")]
    public static partial void Mounted(ILogger logger, Digest layer, string mountPoint, int nodes, long bytes);

    [LoggerMessage(30, LogLevel.Information, "Layer {Layer} resumed at {MountPoint} on the connection a previous process kept: {Nodes} inodes")]
    public static partial void Resumed(ILogger logger, Digest layer, string mountPoint, int nodes);

    [LoggerMessage(31, LogLevel.Information, "Layer {Layer} left mounted at {MountPoint} for the next process to serve")]
    public static partial void Suspended(ILogger logger, Digest layer, string mountPoint);

    [LoggerMessage(5, LogLevel.Information, "Layer {Layer} unmounted from {MountPoint}")]
    public static partial void Unmounted(ILogger logger, Digest layer, string mountPoint);

    [LoggerMessage(6, LogLevel.Warning, "Layer {Layer}: unmounting {MountPoint} failed")]
    public static partial void UnmountFailed(ILogger logger, Digest layer, string mountPoint, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "Layer {Layer}: could not set readahead of {MountPoint} to {KiB} KiB")]
    public static partial void ReadAheadFailed(ILogger logger, Digest layer, string mountPoint, int kiB, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "Layer {Layer}: '{Path}' could not be made a passthrough file")]
    public static partial void PassthroughFailed(ILogger logger, Digest layer, string path, Exception exception);

    [LoggerMessage(10, LogLevel.Information, "Layer {Layer} is fully local: background fetch brought {Bytes} bytes in {Seconds:F1} s")]
    public static partial void LayerFullyLocal(ILogger logger, Digest layer, long bytes, double seconds);

    [LoggerMessage(11, LogLevel.Warning, "Layer {Layer}: background fetch left it incomplete ({Fetched} of {Total} bytes local); trying again in {Seconds} s")]
    public static partial void BackgroundFetchIncomplete(ILogger logger, Digest layer, long fetched, long total, double seconds);

    [LoggerMessage(12, LogLevel.Information, "Layer {Layer}: prefetched {Bytes} bytes ({Members} members) in {Seconds:F2} s")]
    public static partial void Prefetched(ILogger logger, Digest layer, long bytes, int members, double seconds);

    [LoggerMessage(13, LogLevel.Warning, "Layer {Layer}: prefetch failed; reads fetch on demand")]
    public static partial void PrefetchFailed(ILogger logger, Digest layer, Exception exception);

    [LoggerMessage(14, LogLevel.Debug, "Layer {Layer}: {Kind} fetch of {Bytes} bytes at {Offset} ('{Path}' on): request {RequestMs:F1} ms, decompress+verify+store {ProcessMs:F1} ms")]
    public static partial void Fetched(ILogger logger, Digest layer, string kind, long bytes, long offset, string path, double requestMs, double processMs);

    [LoggerMessage(15, LogLevel.Debug, "Layer {Layer}: tree {TreeMs:F1} ms, mount {MountMs:F1} ms, INIT {InitMs:F1} ms, read-ahead {ReadAheadMs:F1} ms, handover {KeepMs:F1} ms")]
    public static partial void MountTimes(ILogger logger, Digest layer, double treeMs, double mountMs, double initMs, double readAheadMs, double keepMs);

    [LoggerMessage(16, LogLevel.Debug, "Layer {Layer}: fetching {Bytes} bytes at {Offset} ahead of its TOC failed ({Reason}); reads of them go to the registry")]
    public static partial void EarlyPrefetchFailed(ILogger logger, Digest layer, long offset, int bytes, string reason);

    [LoggerMessage(17, LogLevel.Debug, "Layer {Layer}: {Staged} bytes fetched ahead of its TOC from the prefetch hint, {Served} of them read from memory")]
    public static partial void EarlyPrefetchDone(ILogger logger, Digest layer, long staged, long served);

    [LoggerMessage(18, LogLevel.Information, "Layer {Layer}: local copies of {Files} files ({Bytes} bytes) in {Seconds:F2} s; {Candidates} files came whole with the prefetch")]
    public static partial void LocalCopiesWritten(ILogger logger, Digest layer, int files, long bytes, int candidates, double seconds);

    [LoggerMessage(19, LogLevel.Warning, "Layer {Layer}: local copies in {Directory} stopped; the mount serves the rest")]
    public static partial void LocalCopiesFailed(ILogger logger, Digest layer, string directory, Exception exception);

    [LoggerMessage(36, LogLevel.Debug, "Layer {Layer}: the local copier's thread kept its scheduling policy (sched_setscheduler errno {Errno}); it copies at normal priority")]
    public static partial void LocalCopiesPriorityUnchanged(ILogger logger, Digest layer, int errno);

    [LoggerMessage(37, LogLevel.Warning, "Layer {Layer}: storing prefetched pages in the page cache stopped; READs serve them")]
    public static partial void PageCacheFillFailed(ILogger logger, Digest layer, Exception exception);

    [LoggerMessage(38, LogLevel.Debug, "Layer {Layer}: {Bytes} prefetched bytes of {Files} files stored in the page cache")]
    public static partial void PageCacheFilled(ILogger logger, Digest layer, long bytes, int files);

    [LoggerMessage(20, LogLevel.Debug, "Layer {Layer}: '{Path}' has no local copy: {Reason}")]
    public static partial void LocalCopySkipped(ILogger logger, Digest layer, string path, string reason);

    [LoggerMessage(39, LogLevel.Debug, "Layer {Layer}: miss of '{Path}', read-ahead window {WindowKiB} KiB")]
    public static partial void ReadAheadWindow(ILogger logger, Digest layer, string path, long windowKiB);
}
