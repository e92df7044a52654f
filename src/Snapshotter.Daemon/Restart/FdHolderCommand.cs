using Snapshotter.Fuse.Handover;

namespace Snapshotter.Daemon.Restart;

/// <summary>
/// <c>stargz-snapshotter fd-holder --socket PATH</c>: the descriptor holder the daemon starts for
/// itself when there is no systemd store. It leaves the daemon's session, so that signals to the
/// daemon's process group spare it, and exits once it holds nothing and no daemon is connected.
/// </summary>
internal static class FdHolderCommand
{
    public const string Name = "fd-holder";

    public const string Usage = "Usage: stargz-snapshotter fd-holder --socket PATH [--idle-timeout-seconds N]";

    private static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(30);

    public static int Run(IReadOnlyList<string> args)
    {
        string? socket = null;
        var idle = DefaultIdleTimeout;
        for (var i = 0; i < args.Count; i++)
        {
            var value = i + 1 < args.Count ? args[i + 1] : null;
            switch (args[i])
            {
                case "--socket" when value is not null:
                    socket = value;
                    i++;
                    break;
                case "--idle-timeout-seconds" when value is not null && double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds >= 0:
                    idle = TimeSpan.FromSeconds(seconds);
                    i++;
                    break;
                default:
                    Console.Error.WriteLine($"stargz-snapshotter fd-holder: unexpected argument '{args[i]}'\n{Usage}");
                    return 2;
            }
        }
        if (socket is null)
        {
            Console.Error.WriteLine($"stargz-snapshotter fd-holder: --socket is required\n{Usage}");
            return 2;
        }
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        }));
        var logger = loggers.CreateLogger("stargz-snapshotter.fd-holder");
        FdHolder.DetachFromSession();
        try
        {
            using var holder = new FdHolder(socket, idle, logger);
            holder.Run();
            return 0;
        }
        catch (IOException e)
        {
            RestartLog.HolderFailed(logger, socket, e);
            return 1;
        }
    }
}
