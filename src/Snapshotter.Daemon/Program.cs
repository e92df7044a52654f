using Snapshotter.Daemon;
using Snapshotter.Daemon.Restart;

if (args is [FdHolderCommand.Name, .. var holderArgs])
{
    return FdHolderCommand.Run(holderArgs);
}

DaemonConfig config;
try
{
    var commandLine = CommandLine.Parse(args);
    if (commandLine.Help)
    {
        Console.WriteLine(CommandLine.Usage);
        return 0;
    }
    config = commandLine.Apply(DaemonConfig.Load(commandLine.ConfigPath));
}
catch (ConfigException e)
{
    Console.Error.WriteLine($"stargz-snapshotter: {e.Message}");
    return 2;
}

try
{
    await using var app = DaemonHost.Build(config);
    await DaemonHost.RunAsync(app);
    return 0;
}
catch (ConfigException e)
{
    Console.Error.WriteLine($"stargz-snapshotter: {e.Message}");
    return 2;
}
catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
{
    // Restore refused, the socket or root unusable: one clear line, not a stack trace (exit 134).
    Console.Error.WriteLine($"stargz-snapshotter: {e.Message}");
    return 1;
}
