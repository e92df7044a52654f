using Microsoft.Extensions.Logging;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Error, "Layer {Layer}: chunk at file offset {FileOffset} of '{Path}' failed verification; answered EIO")]
    public static partial void VerificationFailed(ILogger logger, Digest layer, string path, long fileOffset, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "Layer {Layer}: reading chunk at file offset {FileOffset} of '{Path}' from the blob failed; answered EIO")]
    public static partial void ChunkReadFailed(ILogger logger, Digest layer, string path, long fileOffset, Exception exception);

    [LoggerMessage(3, LogLevel.Error, "Layer {Layer}: chunk at file offset {FileOffset} of '{Path}' is {Size} bytes, above the limit of {Limit}; answered EIO")]
    public static partial void ChunkTooLarge(ILogger logger, Digest layer, string path, long fileOffset, long size, long limit);

    [LoggerMessage(4, LogLevel.Information, "Layer {Layer} mounted at {MountPoint}: {Nodes} inodes, {Bytes} bytes of files")]
    public static partial void Mounted(ILogger logger, Digest layer, string mountPoint, int nodes, long bytes);

    [LoggerMessage(5, LogLevel.Information, "Layer {Layer} unmounted from {MountPoint}")]
    public static partial void Unmounted(ILogger logger, Digest layer, string mountPoint);

    [LoggerMessage(6, LogLevel.Warning, "Layer {Layer}: unmounting {MountPoint} failed")]
    public static partial void UnmountFailed(ILogger logger, Digest layer, string mountPoint, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "Layer {Layer}: could not set readahead of {MountPoint} to {KiB} KiB")]
    public static partial void ReadAheadFailed(ILogger logger, Digest layer, string mountPoint, int kiB, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "Layer {Layer}: '{Path}' could not be made a passthrough file")]
    public static partial void PassthroughFailed(ILogger logger, Digest layer, string path, Exception exception);
}
