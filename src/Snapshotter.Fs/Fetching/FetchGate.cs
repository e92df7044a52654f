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
    /// for <paramref name="quiet"/>; at once for a zero period when idle.
    /// </summary>
    public async Task WhenQuietAsync(TimeSpan quiet, CancellationToken cancellationToken)
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
                left = _active ? quiet - _time.GetElapsedTime(_lastActivity) : TimeSpan.Zero;
            }
            if (left <= TimeSpan.Zero)
            {
                return;
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

    internal void Exit()
    {
        lock (_lock)
        {
            _lastActivity = _time.GetTimestamp();
            _active = true;
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
