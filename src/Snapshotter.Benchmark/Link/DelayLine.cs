using System.Buffers;
using System.Diagnostics;
using Snapshotter.Benchmark.Interop;

namespace Snapshotter.Benchmark.Link;

/// <summary>
/// A point-to-point link between two TUN interfaces that delivers every packet a fixed time after
/// it was sent, in order: netem's <c>delay</c> in user space, for kernels built without sch_netem.
/// The rate is left to a qdisc on each interface (tc tbf), which the kernel applies before a packet
/// reaches us. Each direction has a reader thread (read(2), poll(2) when idle) and a writer thread that sleeps
/// until the oldest packet is due (clock_nanosleep, absolute) and then writes every packet due.
/// </summary>
internal sealed class DelayLine(TunDevice first, TunDevice second, TimeSpan delay)
{
    private readonly Direction _forward = new(first, second, delay);
    private readonly Direction _backward = new(second, first, delay);

    /// <summary>Forwards until <paramref name="stop"/> is set (within ~100 ms, then the devices may be disposed) or a device fails.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var directions = new[] { _forward.Start(failed), _backward.Start(failed) };
        await Task.WhenAll(directions).ConfigureAwait(false);
    }

    public string Describe() => $"{_forward.Describe()}; {_backward.Describe()}";

    private sealed class Direction(TunDevice from, TunDevice to, TimeSpan delay)
    {
        private readonly Queue<(long Due, byte[] Data, int Length)> _queue = new();
        private bool _writerWaiting;
        private long _packets;
        private long _bytes;
        private long _dropped;

        /// <summary>Starts the reader and writer threads; a failing one cancels <paramref name="stop"/> so that the whole line ends.</summary>
        public Task Start(CancellationTokenSource stop)
        {
            Task Run(Action<CancellationToken> loop, string name)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var thread = new Thread(() =>
                {
                    try
                    {
                        loop(stop.Token);
                        done.TrySetResult();
                    }
                    catch (IOException e)
                    {
                        done.TrySetException(e);
                        stop.Cancel();
                    }
                })
                { IsBackground = true, Name = name };
                thread.Start();
                return done.Task;
            }
            return Task.WhenAll(Run(Read, $"read {from.Name}"), Run(Write, $"write {to.Name}"));
        }

        public string Describe() =>
            $"{from.Name} → {to.Name}: {Interlocked.Read(ref _packets)} packets, {Interlocked.Read(ref _bytes)} bytes, {Interlocked.Read(ref _dropped)} dropped";

        private void Read(CancellationToken stop)
        {
            var buffer = new byte[TunDevice.MaxPacket];
            var delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
            while (true)
            {
                var length = from.ReadPacket(buffer, stop);
                if (length == 0)
                {
                    return;
                }
                var packet = ArrayPool<byte>.Shared.Rent(length);
                buffer.AsSpan(0, length).CopyTo(packet);
                lock (_queue)
                {
                    _queue.Enqueue((Stopwatch.GetTimestamp() + delayTicks, packet, length));
                    if (_writerWaiting)
                    {
                        Monitor.Pulse(_queue);
                    }
                }
            }
        }

        private void Write(CancellationToken stop)
        {
            var due = new List<(long Due, byte[] Data, int Length)>();
            while (true)
            {
                long oldest;
                lock (_queue)
                {
                    while (_queue.Count == 0)
                    {
                        if (stop.IsCancellationRequested)
                        {
                            return;
                        }
                        _writerWaiting = true;
                        Monitor.Wait(_queue, 100);
                        _writerWaiting = false;
                    }
                    oldest = _queue.Peek().Due;
                }
                SleepUntil(oldest);
                var now = Stopwatch.GetTimestamp();
                lock (_queue)
                {
                    while (_queue.Count > 0 && _queue.Peek().Due <= now)
                    {
                        due.Add(_queue.Dequeue());
                    }
                }
                foreach (var (_, data, length) in due)
                {
                    if (to.WritePacket(data.AsSpan(0, length)))
                    {
                        _packets++;
                        _bytes += length;
                    }
                    else
                    {
                        _dropped++; // the receiving interface is down, e.g. not configured yet: lost, as on a real link
                    }
                    ArrayPool<byte>.Shared.Return(data);
                }
                due.Clear();
            }
        }

        /// <summary>Stopwatch timestamps are CLOCK_MONOTONIC nanoseconds on Linux; sleep to one exactly (within the timer slack).</summary>
        private static unsafe void SleepUntil(long timestamp)
        {
            var nanoseconds = (Int128)timestamp * 1_000_000_000 / Stopwatch.Frequency;
            var request = new Libc.TimeSpec { Seconds = (long)(nanoseconds / 1_000_000_000), Nanoseconds = (long)(nanoseconds % 1_000_000_000) };
            while (Libc.ClockNanosleep(Libc.CLOCK_MONOTONIC, Libc.TIMER_ABSTIME, &request, null) == Libc.EINTR)
            {
            }
        }
    }
}
