namespace Snapshotter.Fs;

/// <summary>
/// Shared by every layer of a daemon: counts on-demand fetches in flight (a container waits on
/// each), so background fetch can step aside while any is running. Thread-safe.
/// </summary>
public sealed class FetchGate
{
    private readonly Lock _lock = new();
    private int _onDemand;
    private TaskCompletionSource _idle = Completed();

    /// <summary>On-demand fetches running now.</summary>
    public int OnDemandInFlight
    {
        get
        {
            lock (_lock)
            {
                return _onDemand;
            }
        }
    }

    /// <summary>Completes when no on-demand fetch is running (at once if none is).</summary>
    public Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _idle.Task.WaitAsync(cancellationToken);
        }
    }

    internal void Enter()
    {
        lock (_lock)
        {
            if (_onDemand++ == 0)
            {
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    internal void Exit()
    {
        lock (_lock)
        {
            if (--_onDemand == 0)
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
