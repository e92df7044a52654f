using Snapshotter.Fuse.Handover;

namespace Snapshotter.Daemon.Restart;

/// <summary>
/// Opens the <see cref="FuseHandover"/> of <c>[restart]</c>: the store that keeps every mounted
/// layer's FUSE connection outside the daemon, so that running containers wait through a restart
/// or a crash instead of failing, and the next daemon resumes serving them.
/// </summary>
internal static class KeptConnections
{
    /// <summary>The handover over the configured store, holding what a previous daemon kept; null for <c>fd_store = "none"</c>.</summary>
    public static FuseHandover? Open(DaemonConfig config, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Snapshotter.Daemon.Restart");
        IFdStore? store = config.Restart.FdStore switch
        {
            FdStoreKind.None => null,
            FdStoreKind.Systemd => SystemdFdStore.Open(FuseHandover.NamePrefix),
            FdStoreKind.Holder => Holder(config, HolderCommand() ?? throw NoHolderExecutable(), logger),
            _ when SystemdNotify.Socket is not null => SystemdFdStore.Open(FuseHandover.NamePrefix),
            _ when HolderCommand() is { } command => Holder(config, command, logger),
            _ => null,
        };
        if (store is null && config.Restart.FdStore == FdStoreKind.Auto)
        {
            RestartLog.NothingKept(logger, typeof(KeptConnections).Assembly.Location);
        }
        if (store is SystemdFdStore && !SystemdFdStore.IsOffered)
        {
            // systemd before 254 does not say; with no FileDescriptorStoreMax it drops what we store.
            RestartLog.SystemdStoreUnconfirmed(logger);
        }
        return store is null ? null : new FuseHandover(store, Path.Combine(config.Root, "handover"), logger);
    }

    private static FdHolderStore Holder(DaemonConfig config, IReadOnlyList<string> command, ILogger logger)
    {
        var socket = config.Restart.HolderSocketPath(config.Root);
        Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        var store = new FdHolderStore(socket, [.. command, "--socket", socket], logger);
        _ = store.StartAheadAsync(); // off the first mount's path: starting a process takes ~0.4 s
        return store;
    }

    /// <summary>This executable's <c>fd-holder</c> command: the daemon's apphost, found as this process or beside this assembly; null if neither.</summary>
    internal static IReadOnlyList<string>? HolderCommand()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == "stargz-snapshotter")
        {
            return [self, FdHolderCommand.Name];
        }
        var assembly = typeof(KeptConnections).Assembly.Location;
        var apphost = Path.Combine(Path.GetDirectoryName(assembly)!, "stargz-snapshotter");
        return File.Exists(apphost) && File.Exists(Path.ChangeExtension(assembly, ".runtimeconfig.json")) ? [apphost, FdHolderCommand.Name] : null;
    }

    private static ConfigException NoHolderExecutable() => new(
        $"[restart] fd_store = \"holder\" needs the stargz-snapshotter executable to run the descriptor holder, and there is none beside {typeof(KeptConnections).Assembly.Location}");
}

internal static partial class RestartLog
{
    [LoggerMessage(400, LogLevel.Warning, "Keeping FUSE connections in systemd's descriptor store, but systemd did not announce one ($FDSTORE, systemd 254+): the unit needs FileDescriptorStoreMax=, or layers are lost at restart")]
    public static partial void SystemdStoreUnconfirmed(ILogger logger);

    [LoggerMessage(402, LogLevel.Warning, "No stargz-snapshotter executable beside {Assembly} to run the descriptor holder: mounted layers end with this process")]
    public static partial void NothingKept(ILogger logger, string assembly);

    [LoggerMessage(401, LogLevel.Error, "The descriptor holder on {Socket} failed")]
    public static partial void HolderFailed(ILogger logger, string socket, Exception exception);
}
