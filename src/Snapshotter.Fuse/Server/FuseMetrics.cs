using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Snapshotter.Fuse;

/// <summary>
/// FUSE request latency and errors by opcode (meter "Snapshotter.Fuse"; the daemon exports it as
/// snapshotter_fuse_*). From the request read off /dev/fuse to its reply; nothing is allocated
/// per request, and recording costs next to nothing while no listener is attached.
/// </summary>
internal static class FuseMetrics
{
    private static readonly Meter Meter = new("Snapshotter.Fuse");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("operation_duration", "s", "Time from a FUSE request to its reply, by opcode");
    private static readonly Counter<long> Errors = Meter.CreateCounter<long>("operation_errors", description: "FUSE requests answered with an errno other than ENOENT/ENODATA, by opcode");

    public static void Record(string opcode, long startedTimestamp, int errno)
    {
        var tag = new KeyValuePair<string, object?>("opcode", opcode);
        if (Duration.Enabled)
        {
            Duration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, tag);
        }
        // Misses of lookups and xattrs are the normal answer, not failures.
        if (errno != 0 && errno != Errno.ENOENT && errno != Errno.ENODATA)
        {
            Errors.Add(1, tag);
        }
    }
}
