namespace Snapshotter.Daemon;

/// <summary>Flags: <c>--address</c>, <c>--config</c>, <c>--root</c>, <c>--log-level</c> (as <c>--flag value</c> or <c>--flag=value</c>).</summary>
public sealed record CommandLine(string? Address, string? ConfigPath, string? Root, string? LogLevel, bool Help)
{
    public const string Usage = """
        Usage: stargz-snapshotter [--config FILE] [--address SOCKET] [--root DIR] [--log-level LEVEL]
          --config FILE       TOML configuration (default /etc/stargz-snapshotter/config.toml, optional)
          --address SOCKET    unix socket to serve containerd's snapshots API on
          --root DIR          directory for metadata and snapshots
          --log-level LEVEL   trace, debug, info, warning, error, critical
               stargz-snapshotter fd-holder --socket PATH
          (the descriptor holder the daemon starts itself to keep mounted layers across restarts)
        """;

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var help = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help")
            {
                help = true;
                continue;
            }
            var (name, value) = arg.Split('=', 2) is [var n, var v] ? (n, v) : (arg, null as string);
            if (name is not ("--address" or "--config" or "--root" or "--log-level"))
            {
                throw new ConfigException($"unknown argument '{arg}'\n{Usage}");
            }
            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    throw new ConfigException($"{name} needs a value\n{Usage}");
                }
                value = args[++i];
            }
            values[name] = value;
        }
        return new CommandLine(values.GetValueOrDefault("--address"), values.GetValueOrDefault("--config"),
            values.GetValueOrDefault("--root"), values.GetValueOrDefault("--log-level"), help);
    }

    /// <summary>The configuration file's settings with these flags applied on top.</summary>
    public DaemonConfig Apply(DaemonConfig config) =>
        (config with
        {
            Address = Address is null ? config.Address : Path.GetFullPath(Address),
            Root = Root is null ? config.Root : Path.GetFullPath(Root),
            LogLevel = LogLevel is null ? config.LogLevel : DaemonConfig.ParseLogLevel(LogLevel, "--log-level"),
        }).Validated("command line");
}
