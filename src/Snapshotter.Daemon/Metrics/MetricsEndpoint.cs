using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Prometheus;

namespace Snapshotter.Daemon;

/// <summary>
/// Prometheus metrics over plain HTTP at <c>http://[metrics] address/metrics</c>: the libraries'
/// System.Diagnostics.Metrics meters (names starting with "Snapshotter.") through prometheus-net's
/// meter adapter, plus its process and runtime metrics.
/// </summary>
internal static class MetricsEndpoint
{
    private const string Path = "/metrics";

    private static readonly Lock StartLock = new();
    private static IDisposable? _meterAdapter;

    public static void Listen(KestrelServerOptions kestrel, MetricsConfig config)
    {
        if (config.Address.Length > 0)
        {
            StartMeterAdapter();
            kestrel.Listen(IPEndPoint.Parse(config.Address), listen => listen.Protocols = HttpProtocols.Http1);
        }
    }

    /// <summary>
    /// prometheus-net's default adapter starts at the first scrape and would miss what happens
    /// before it; ours listens from the start, to our meters only (not ASP.NET's per-request ones).
    /// </summary>
    private static void StartMeterAdapter()
    {
        lock (StartLock)
        {
            if (_meterAdapter is not null)
            {
                return;
            }
            Prometheus.Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressMeters = true });
            _meterAdapter = MeterAdapter.StartListening(new MeterAdapterOptions
            {
                InstrumentFilterPredicate = instrument => instrument.Meter.Name.StartsWith("Snapshotter.", StringComparison.Ordinal),
            });
        }
    }

    public static void Map(WebApplication app, MetricsConfig config)
    {
        if (config.Address.Length == 0)
        {
            return;
        }
        var port = IPEndPoint.Parse(config.Address).Port;
        app.MapGet(Path, async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        }).RequireHost($"*:{port}");
    }
}
