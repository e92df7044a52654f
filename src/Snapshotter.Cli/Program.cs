using System.CommandLine;
using Snapshotter.Cli.Commands;

var root = new RootCommand("stargzctl: pull images into containerd for lazy use through the stargz snapshotter, and manage it")
{
    GlobalOptions.Address,
    GlobalOptions.Namespace,
    RpullCommand.Create(),
    CacheCommand.Create(),
};
var parsed = root.Parse(args);
var exitCode = await parsed.InvokeAsync();
// System.CommandLine answers a usage error with 1; ours is 2, and 1 means the command failed.
return parsed.Errors.Count > 0 ? ExitCodes.Usage : exitCode;
