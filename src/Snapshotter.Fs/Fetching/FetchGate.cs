namespace Snapshotter.Fs;

/// <summary>
/// Shared by every layer of a daemon: counts the foreground fetches in flight (on-demand reads a
/// container waits on, their read-ahead, and prefetch, which a container start waits on) and
/// remembers when foreground work last happened (a fetch ended, a layer was mounted), so
/// background fetch can stay off the link while a container is starting. Thread-safe.
/// </summary>
public sealed class FetchGate
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private int _foreground;
    private long _lastActivity;
    private bool _active;
    private bool _prefetchSinceQuiet;
    private TaskCompletionSource _idle = Completed();

    public FetchGate(TimeProvider time)
    {
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    public FetchGate()
        : this(TimeProvider.System)
    {
    }

    /// <summary>Foreground fetches (on-demand, read-ahead, prefetch) running now.</summary>
    public int ForegroundInFlight
    {
        get
        {
            lock (_lock)
            {
                return _foreground;
            }
        }
    }

    /// <summary>Completes when no foreground fetch is running (at once if none is).</summary>
    public Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _idle.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Completes once no foreground fetch is running and none has ended (nor a layer been mounted)
    /// for <paramref name="quiet"/>; at once for a zero period when idle. The period is at least
    /// <paramref name="afterPrefetch"/> when a prefetch has ended since the gate last let a caller
    /// through: the image was optimized, its container is starting from what prefetch brought, and
    /// its own reads should have the link and the CPU to themselves.
    /// </summary>
    public async Task WhenQuietAsync(TimeSpan quiet, TimeSpan afterPrefetch, CancellationToken cancellationToken)
    {
        while (true)
        {
            await WhenIdleAsync(cancellationToken).ConfigureAwait(false);
            TimeSpan left;
            lock (_lock)
            {
                if (_foreground > 0)
                {
                    continue;
                }
                var period = _prefetchSinceQuiet && afterPrefetch > quiet ? afterPrefetch : quiet;
                left = _active ? period - _time.GetElapsedTime(_lastActivity) : TimeSpan.Zero;
                if (left <= TimeSpan.Zero)
                {
                    _prefetchSinceQuiet = false;
                    return;
                }
            }
            await Task.Delay(left, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Foreground work just happened without a fetch (a layer was mounted: its reads are likely to follow).</summary>
    public void Touch()
    {
        lock (_lock)
        {
            _lastActivity = _time.GetTimestamp();
            _active = true;
        }
    }

    internal void Enter()
    {
        lock (_lock)
        {
            if (_foreground++ == 0)
            {
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>A foreground fetch ended; <paramref name="prefetch"/>: it was a layer's prefetch.</summary>
    internal void Exit(bool prefetch = false)
    {
        lock (_lock)
        {
            _lastActivity = _time.GetTimestamp();
            _active = true;
            _prefetchSinceQuiet |= prefetch;
            if (--_foreground == 0)
            {
                _idle.SetResult();
            }
        }
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }
}
