namespace Snapshotter.Fs;

/// <summary>
/// Counts layers whose footer and TOC are on their way. A mount waits for its TOC, and containerd's
/// pull for each mount, so while any TOC is being read an early prefetch (<see cref="EarlyPrefetchBlob"/>)
/// keeps to one request: with four per layer it took most of the link, and the first TOC of a
/// pull arrived in 540 ms instead of ~200 ms. Shared by the daemon's layers. Thread-safe.
/// </summary>
/// <remarks>
/// A tail read that a mount, and so containerd, is waiting for is critical (<see cref="BeginCritical"/>):
/// while one is on the link, early prefetches start no new request and the pre-opener starts no
/// other layer's tail. The first layer's 512 KiB tail had shared the link with its own hinted 2 MiB
/// request and the next layer's tail (145-200 ms for the tail alone); its footer and TOC took
/// 287-346 ms, and 237-265 ms with this (debug runs, docs/benchmarks.md, tenth round). Only the
/// bytes' transfer is critical: the window ends when they are in, before the TOC is parsed.
/// </remarks>
public sealed class TocReads
{
    private readonly Counter _reads = new();
    private readonly Counter _critical = new();

    /// <summary>Completes when no TOC is being read (at once if none is now).</summary>
    public Task WhenNone => _reads.WhenNone;

    /// <summary>Completes when no critical tail read is on its way (at once if none is now).</summary>
    public Task WhenNoCritical => _critical.WhenNone;

    /// <summary>A TOC read starts; disposing the result ends it (once, however often it is disposed).</summary>
    public IDisposable Begin() => _reads.Begin();

    /// <summary>A tail read that a waiting mount needs starts; disposing the result ends it (once, however often it is disposed).</summary>
    public IDisposable BeginCritical() => _critical.Begin();

    /// <summary>How many of something are under way, and a task that completes whenever none is.</summary>
    private sealed class Counter
    {
        private readonly Lock _lock = new();
        private int _count;
        private TaskCompletionSource _none = Completed();

        public Task WhenNone
        {
            get
            {
                lock (_lock)
                {
                    return _none.Task;
                }
            }
        }

        public IDisposable Begin()
        {
            lock (_lock)
            {
                if (_count++ == 0)
                {
                    _none = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
            return new Ending(this);
        }

        private void End()
        {
            lock (_lock)
            {
                if (--_count == 0)
                {
                    _none.TrySetResult();
                }
            }
        }

        private static TaskCompletionSource Completed()
        {
            var none = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            none.TrySetResult();
            return none;
        }

        private sealed class Ending(Counter owner) : IDisposable
        {
            private int _ended;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _ended, 1) == 0)
                {
                    owner.End();
                }
            }
        }
    }
}
