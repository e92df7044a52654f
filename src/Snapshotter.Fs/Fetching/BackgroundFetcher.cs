using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>How the rest of every layer is fetched after its prefetch, so it becomes fully local.</summary>
public sealed record BackgroundFetchOptions
{
    public static readonly BackgroundFetchOptions Default = new();

    public bool Enabled { get; init; } = true;

    /// <summary>Compressed bytes per second fetched in the background, across all layers (0: unlimited).</summary>
    public long BytesPerSecond { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// The largest Range request background fetch sends (a single larger member is still fetched
    /// whole). Smaller requests let a read that misses right after a quiet spell wait behind less:
    /// on a 17 MB/s link an 8 MiB one held each of nginx's on-demand misses for up to half a second
    /// (docs/benchmarks.md, seventeenth round, where 1 MiB made it ready 0.2 s sooner and the
    /// Python images no later).
    /// </summary>
    public long RequestBytes { get; init; } = 1L * 1024 * 1024;

    /// <summary>
    /// How long no foreground fetch (on-demand, read-ahead, prefetch) may have run, nor a layer been
    /// mounted, before background fetch sends a request (zero: only while none runs). Longer keeps
    /// it off the link while containers start; docs/benchmarks.md, "Readiness", has the trade-off.
    /// </summary>
    public TimeSpan QuietPeriod { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// The quiet period, at least, after a layer's prefetch (an image optimized with a prefetch list):
    /// its container starts from prefetched files, and background requests competing with its
    /// remaining reads and its own start for link and CPU only delay it. Images without a prefetch
    /// region keep <see cref="QuietPeriod"/>: for them background fetch is what brings files ahead.
    /// </summary>
    public TimeSpan QuietPeriodAfterPrefetch { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Layers fetched at once, each one request at a time.</summary>
    public int Layers { get; init; } = 2;

    /// <summary>How long after a failed pass a layer is tried again.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Fetches the remaining chunks of mounted layers in blob order at a bounded rate and
/// concurrency, in small requests, each sent only once the <see cref="FetchGate"/> has been quiet
/// (no foreground fetch, no new mount) for <see cref="BackgroundFetchOptions.QuietPeriod"/>, or for
/// <see cref="BackgroundFetchOptions.QuietPeriodAfterPrefetch"/> once a prefetch has run. When
/// a layer is fully local the registry is no longer needed to serve it.
/// </summary>
public sealed class BackgroundFetcher : IDisposable
{
    private readonly BackgroundFetchOptions _options;
    private readonly FetchGate _gate;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<Job> _queue = Channel.CreateUnbounded<Job>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly Lock _paceLock = new();
    private long _nextStart;

    public BackgroundFetcher(BackgroundFetchOptions options, FetchGate gate, TimeProvider time, ILogger<BackgroundFetcher> logger)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _gate = gate ?? throw new ArgumentNullException(nameof(gate));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        ArgumentOutOfRangeException.ThrowIfNegative(options.BytesPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Layers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RequestBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.QuietPeriod, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.QuietPeriodAfterPrefetch, TimeSpan.Zero);
        _workers = options.Enabled ? [.. Enumerable.Range(0, options.Layers).Select(_ => Task.Run(WorkAsync))] : [];
    }

    public FetchGate Gate => _gate;

    internal void Enqueue(ChunkReader chunks, LayerStatistics statistics, Digest layer, CancellationToken mountLifetime)
    {
        if (_options.Enabled)
        {
            _queue.Writer.TryWrite(new Job(chunks, statistics, layer, mountLifetime));
        }
    }

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                await RunAsync(job).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(Job job)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, job.MountLifetime);
        var started = _time.GetTimestamp();
        try
        {
            var fetched = await job.Chunks.FetchMembersAsync(0, job.Chunks.Members.Count, FetchKind.Background, 1, _options.RequestBytes, WaitForTurnAsync, linked.Token).ConfigureAwait(false);
            if (job.Statistics.IsFullyLocal)
            {
                Log.LayerFullyLocal(_logger, job.Layer, fetched, _time.GetElapsedTime(started).TotalSeconds);
                return;
            }
            Log.BackgroundFetchIncomplete(_logger, job.Layer, job.Statistics.FetchedBytes, job.Statistics.CompressedBytes, _options.RetryDelay.TotalSeconds);
            await Task.Delay(_options.RetryDelay, _time, linked.Token).ConfigureAwait(false);
            _queue.Writer.TryWrite(job);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            // The layer was unmounted or the daemon is stopping.
        }
    }

    /// <summary>Waits until the gate has been quiet for the quiet period, then for the rate budget of <paramref name="bytes"/>.</summary>
    private async ValueTask WaitForTurnAsync(long bytes, CancellationToken cancellationToken)
    {
        await _gate.WhenQuietAsync(_options.QuietPeriod, _options.QuietPeriodAfterPrefetch, cancellationToken).ConfigureAwait(false);
        if (_options.BytesPerSecond == 0)
        {
            return;
        }
        TimeSpan wait;
        lock (_paceLock)
        {
            var now = _time.GetTimestamp();
            var start = Math.Max(now, _nextStart);
            _nextStart = start + (long)((double)bytes / _options.BytesPerSecond * _time.TimestampFrequency);
            wait = _time.GetElapsedTime(now, start);
        }
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            await _gate.WhenQuietAsync(_options.QuietPeriod, _options.QuietPeriodAfterPrefetch, cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _stop.Cancel();
        try
        {
            Task.WaitAll(_workers, TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // Workers end by cancellation.
        }
        _stop.Dispose();
    }

    private sealed record Job(ChunkReader Chunks, LayerStatistics Statistics, Digest Layer, CancellationToken MountLifetime);
}
