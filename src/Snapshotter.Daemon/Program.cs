using Snapshotter.Daemon;

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

await using var app = DaemonHost.Build(config);
await DaemonHost.RunAsync(app);
return 0;
