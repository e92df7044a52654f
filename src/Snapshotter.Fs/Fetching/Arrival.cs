namespace Snapshotter.Fs.Fetching;

/// <summary>
/// How many bytes of one request's body are in place, as its reader reports them, for a consumer
/// that completes the members at the front of the request while the rest is still on its way.
/// </summary>
internal sealed class Arrival
{
    private readonly Lock _lock = new();
    private int _filled;
    private int _awaited;
    private TaskCompletionSource? _waiter;

    public int Filled
    {
        get
        {
            lock (_lock)
            {
                return _filled;
            }
        }
    }

    /// <summary>The reader's callback: <paramref name="filled"/> bytes from the start are in place.</summary>
    public void Report(int filled)
    {
        TaskCompletionSource? ready = null;
        lock (_lock)
        {
            _filled = Math.Max(_filled, filled);
            if (_waiter is not null && _filled >= _awaited)
            {
                ready = _waiter;
                _waiter = null;
            }
        }
        ready?.TrySetResult(); // continuations run elsewhere: the reading thread goes on reading
    }

    /// <summary>Completes once <paramref name="count"/> bytes are in place or <paramref name="read"/> has ended, whichever is first.</summary>
    public Task WhenFilledAsync(int count, Task read)
    {
        lock (_lock)
        {
            if (_filled >= count || read.IsCompleted)
            {
                return Task.CompletedTask;
            }
            _awaited = count;
            _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return Task.WhenAny(_waiter.Task, read);
        }
    }
}
