namespace Snapshotter.Fuse.Server;

/// <summary>One READ in flight: where its reply goes and how to cancel it. Pooled, never per request.</summary>
internal sealed class ReadOperation : IDisposable
{
    public ulong Unique;
    public ulong NodeId;
    public long Started;
    public IFuseChannel Channel = null!;
    public byte[] Buffer = [];
    public int Size;
    public CancellationTokenSource Cancellation = new();

    /// <summary>The file system's read while it is pending.</summary>
    public ValueTask<int> Pending;

    /// <summary>Continuation that answers this operation, made once per pooled operation.</summary>
    public Action? Continuation;

    public void Dispose() => Cancellation.Dispose();
}

/// <summary>
/// The pool of READ operations, which is also the table INTERRUPT searches (interrupts are
/// rare; a scan under the lock costs nothing on the read path). An interrupt that arrives
/// before its READ is registered (another reader thread took it first) is remembered briefly.
/// </summary>
internal sealed class ReadOperations
{
    private readonly object _lock = new();
    private readonly Stack<ReadOperation> _free = new();
    private readonly List<ReadOperation> _all = [];
    private readonly ulong[] _earlyInterrupts = new ulong[16];
    private int _earlyNext;
    private int _inFlight;

    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _inFlight;
            }
        }
    }

    public ReadOperation Rent(ulong unique, ulong nodeId, IFuseChannel channel)
    {
        lock (_lock)
        {
            if (!_free.TryPop(out var op))
            {
                op = new ReadOperation();
                _all.Add(op);
            }
            op.Unique = unique;
            op.NodeId = nodeId;
            op.Channel = channel;
            _inFlight++;
            var early = Array.IndexOf(_earlyInterrupts, unique);
            if (early >= 0)
            {
                _earlyInterrupts[early] = 0;
                _ = op.Cancellation.CancelAsync();
            }
            return op;
        }
    }

    public void Return(ReadOperation op)
    {
        lock (_lock)
        {
            op.Unique = 0;
            op.Channel = null!;
            op.Buffer = [];
            if (!op.Cancellation.TryReset())
            {
                op.Cancellation.Dispose();
                op.Cancellation = new CancellationTokenSource();
            }
            _free.Push(op);
            if (--_inFlight == 0)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Cancels the READ with this unique id; true if it was in flight.</summary>
    public bool Interrupt(ulong unique)
    {
        lock (_lock)
        {
            foreach (var op in _all)
            {
                if (op.Unique == unique)
                {
                    _ = op.Cancellation.CancelAsync();
                    return true;
                }
            }
            _earlyInterrupts[_earlyNext] = unique;
            _earlyNext = (_earlyNext + 1) % _earlyInterrupts.Length;
            return false;
        }
    }

    public void CancelAll()
    {
        lock (_lock)
        {
            foreach (var op in _all)
            {
                if (op.Unique != 0)
                {
                    _ = op.Cancellation.CancelAsync();
                }
            }
        }
    }

    /// <summary>Waits until no READ is in flight; false on timeout.</summary>
    public bool WaitIdle(TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_lock)
        {
            while (_inFlight > 0)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0 || !Monitor.Wait(_lock, (int)left))
                {
                    return _inFlight == 0;
                }
            }
            return true;
        }
    }
}
