using Microsoft.Extensions.Logging;

namespace Snapshotter.Fuse.Handover;

internal static partial class HandoverLog
{
    [LoggerMessage(100, LogLevel.Information, "{Count} FUSE connections came back from the descriptor store ({Store})")]
    public static partial void Inherited(ILogger logger, int count, string store);

    [LoggerMessage(101, LogLevel.Information, "Taking over the FUSE connection at {MountPoint} ({Queues} queues)")]
    public static partial void Taken(ILogger logger, string mountPoint, int queues);

    [LoggerMessage(102, LogLevel.Warning, "The FUSE connection kept for {MountPoint} served {Kept}, not {Wanted}, or is no longer mounted; unmounting it")]
    public static partial void Mismatched(ILogger logger, string mountPoint, string kept, string wanted);

    [LoggerMessage(103, LogLevel.Warning, "The FUSE connection kept for {MountPoint} belongs to no snapshot; unmounting it")]
    public static partial void Unclaimed(ILogger logger, string mountPoint);

    [LoggerMessage(104, LogLevel.Warning, "Unmounting the discarded FUSE connection at {MountPoint} failed")]
    public static partial void DiscardUnmountFailed(ILogger logger, string mountPoint, Exception exception);

    [LoggerMessage(105, LogLevel.Warning, "Handover state {File} is unreadable; its connection is dropped")]
    public static partial void StateUnreadable(ILogger logger, string file, Exception exception);

    [LoggerMessage(110, LogLevel.Information, "Descriptor holder {Pid} started for {Socket}")]
    public static partial void HolderStarted(ILogger logger, int pid, string socket);

    [LoggerMessage(111, LogLevel.Warning, "Lost the descriptor holder on {Socket}; connecting again (connections stored before are kept only if it still runs)")]
    public static partial void HolderLost(ILogger logger, string socket, Exception exception);

    [LoggerMessage(112, LogLevel.Warning, "Starting the descriptor holder for {Socket} ahead of the first mount failed; that mount tries again")]
    public static partial void HolderNotStartedAhead(ILogger logger, string socket, Exception exception);

    [LoggerMessage(120, LogLevel.Information, "Descriptor holder listening on {Socket} (pid {Pid})")]
    public static partial void HolderListening(ILogger logger, string socket, int pid);

    [LoggerMessage(121, LogLevel.Information, "Descriptor holder: nothing held and nobody connected; exiting")]
    public static partial void HolderExiting(ILogger logger);

    [LoggerMessage(122, LogLevel.Information, "Descriptor holder: keeping {Count} descriptors as {Name}")]
    public static partial void HolderStored(ILogger logger, string name, int count);

    [LoggerMessage(123, LogLevel.Information, "Descriptor holder: released {Name}")]
    public static partial void HolderRemoved(ILogger logger, string name);

    [LoggerMessage(124, LogLevel.Information, "Descriptor holder: a descriptor of {Name} ended (connection gone); {Left} left under that name")]
    public static partial void HolderDropped(ILogger logger, string name, int left);

    [LoggerMessage(125, LogLevel.Warning, "Descriptor holder: a client failed")]
    public static partial void HolderClientFailed(ILogger logger, Exception exception);
}
