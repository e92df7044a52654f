using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Snapshotter.Cli.Commands;

/// <summary>The libraries' logs: on stderr with timestamps for <c>--verbose</c>, else nowhere (progress and errors say enough).</summary>
internal static class Logging
{
    public static ILoggerFactory Create(bool verbose) => verbose
        ? LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Debug)
            .AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.TimestampFormat = "HH:mm:ss.fff ";
            })
            .AddFilter("System.Net.Http", LogLevel.Warning)
            .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace))
        : NullLoggerFactory.Instance;
}
