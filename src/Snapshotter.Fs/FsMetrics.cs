using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Snapshotter.Fs;

/// <summary>Why a fetch was made: a read waiting for it, read-ahead after a miss, prefetch at mount, or background fetch.</summary>
public enum FetchKind
{
    OnDemand,
    ReadAhead,
    Prefetch,
    Background,
}

/// <summary>
/// The layer filesystem's instruments (System.Diagnostics.Metrics, meter "Snapshotter.Fs"; Prometheus names get the prefix snapshotter_fs_); the
/// daemon exports them to Prometheus. Per-layer series carry the layer digest as the "layer" tag.
/// </summary>
public static class FsMetrics
{
    public const string MeterName = "Snapshotter.Fs";

    private static readonly Meter Meter = new(MeterName);
    private static readonly ConcurrentDictionary<LayerStatistics, string> Layers = new(ReferenceEqualityComparer.Instance);
    private static readonly string[] KindNames = ["on_demand", "read_ahead", "prefetch", "background"];

    private static readonly Counter<long> FetchRequests = Meter.CreateCounter<long>("fetch_requests", description: "Range requests sent for chunk members, by layer and kind");
    private static readonly Counter<long> FetchBytes = Meter.CreateCounter<long>("fetch_bytes", "By", "Compressed bytes fetched, by layer and kind");
    private static readonly Histogram<double> FetchSeconds = Meter.CreateHistogram<double>("fetch_duration", "s", "Time of one Range request and the decompression of its chunks, by kind");
    private static readonly Counter<long> FetchFailures = Meter.CreateCounter<long>("fetch_failures", description: "Fetches that failed (timeouts, registry errors), by layer");
    private static readonly Counter<long> ReadAheadUsedBytes = Meter.CreateCounter<long>("read_ahead_used_bytes", "By",
        "Compressed bytes that read-ahead brought and a read then used, by layer (against fetch_bytes of kind read_ahead: how much of it paid)");
    private static readonly Histogram<double> PullWaitSeconds = Meter.CreateHistogram<double>("pull_wait_duration", "s",
        "How long an image's pull waited for the prefetch of its layers (prefetch.pull_wait_seconds); outcome: prefetched or timed_out");
    private static readonly Counter<long> VerificationFailures = Meter.CreateCounter<long>("verification_failures", description: "Chunks that failed their TOC digest and were answered EIO, by layer");

    static FsMetrics()
    {
        Meter.CreateObservableGauge("layer_fetched_bytes", () => Observe(s => s.FetchedBytes), "By", "Compressed bytes of the layer fetched so far");
        Meter.CreateObservableGauge("layer_size_bytes", () => Observe(s => s.CompressedBytes), "By", "Compressed bytes of the layer's chunk members");
        Meter.CreateObservableGauge("layer_fully_local", () => Observe(s => s.IsFullyLocal ? 1 : 0), description: "1 when every chunk of the layer is in the cache");
        Meter.CreateObservableGauge("layers_mounted", () => Layers.Count, description: "Layers mounted lazily");
    }

    internal static string KindName(FetchKind kind) => KindNames[(int)kind];

    internal static void Track(LayerStatistics statistics, string layer) => Layers[statistics] = layer;

    internal static void Untrack(LayerStatistics statistics) => Layers.TryRemove(statistics, out _);

    internal static void Fetched(KeyValuePair<string, object?> layer, FetchKind kind, long bytes, double seconds)
    {
        var kindTag = new KeyValuePair<string, object?>("kind", KindName(kind));
        FetchRequests.Add(1, layer, kindTag);
        FetchBytes.Add(bytes, layer, kindTag);
        FetchSeconds.Record(seconds, kindTag);
    }

    /// <summary>An image's pull waited <paramref name="seconds"/> for its prefetch, which was then local or not (<paramref name="timedOut"/>).</summary>
    public static void PullWaited(double seconds, bool timedOut) =>
        PullWaitSeconds.Record(seconds, new KeyValuePair<string, object?>("outcome", timedOut ? "timed_out" : "prefetched"));

    internal static void ReadAheadUsed(KeyValuePair<string, object?> layer, long bytes) => ReadAheadUsedBytes.Add(bytes, layer);

    internal static void FetchFailed(KeyValuePair<string, object?> layer) => FetchFailures.Add(1, layer);

    internal static void VerificationFailed(KeyValuePair<string, object?> layer) => VerificationFailures.Add(1, layer);

    private static IEnumerable<Measurement<long>> Observe(Func<LayerStatistics, long> value) =>
        Layers.Select(pair => new Measurement<long>(value(pair.Key), new KeyValuePair<string, object?>("layer", pair.Value)));
}
