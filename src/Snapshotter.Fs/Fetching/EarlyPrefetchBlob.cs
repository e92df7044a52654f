using System.Buffers;
using Microsoft.Extensions.Logging;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// A layer blob whose prefetch starts before its TOC is known. The ranges of the layer's prefetch
/// hint (<see cref="PrefetchHint"/>) are fetched at once, in blob order, a few requests at a time,
/// into memory; a read that falls in them (the prefetch's own once the TOC has arrived, or a
/// container's) is served from there as the bytes arrive, and each piece is let go once read
/// through. Everything else, and whatever a failed or dropped piece would have held, is read from
/// the blob. The bytes are raw compressed members: the chunk reader verifies them like any others.
/// </summary>
public sealed class EarlyPrefetchBlob : IBlob, IDisposable
{
    private readonly IBlob _inner;
    private readonly Piece[] _pieces;
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private readonly TocReads? _tocReads;
    private TaskCompletionSource _pieceDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inFlight;
    private long _served;
    private int _disposed;

    /// <param name="inner">The layer blob.</param>
    /// <param name="hint">The hinted ranges, ascending; cut to <paramref name="maxBytes"/> in all.</param>
    /// <param name="fetch">Piece size (<see cref="FetchOptions.MaxRequestBytes"/>) and requests in flight (<see cref="FetchOptions.PrefetchRequests"/>).</param>
    /// <param name="tocReads">While any TOC is being read, one request in flight rather than <see cref="FetchOptions.PrefetchRequests"/>, and no new one while a critical tail is (<see cref="TocReads.BeginCritical"/>); null: no such limit.</param>
    public EarlyPrefetchBlob(IBlob inner, IReadOnlyList<BlobSpan> hint, FetchOptions fetch, long maxBytes, ILogger logger, TocReads? tocReads = null)
    {
        _tocReads = tocReads;
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        ArgumentNullException.ThrowIfNull(hint);
        ArgumentNullException.ThrowIfNull(fetch);
        _logger = logger;
        _pieces = Cut(hint, fetch.MaxRequestBytes, maxBytes, inner.Size);
        StagedBytes = _pieces.Sum(p => (long)p.Length);
        Fetching = FetchAllAsync(Math.Max(1, fetch.PrefetchRequests));
    }

    public Digest Digest => _inner.Digest;

    public long Size => _inner.Size;

    /// <summary>Bytes the hint made this fetch ahead of the TOC.</summary>
    public long StagedBytes { get; }

    /// <summary>Of those, bytes reads took from memory.</summary>
    public long ServedBytes => Interlocked.Read(ref _served);

    /// <summary>Completes when every piece has arrived, failed or been dropped.</summary>
    public Task Fetching { get; }

    // Once released (its prefetch over), the layer's reads go straight to the blob.
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        Volatile.Read(ref _disposed) != 0 ? _inner.ReadAsync(offset, destination, cancellationToken) : ReadCoreAsync(offset, destination, null, cancellationToken);

    public ValueTask ReadAsync(long offset, Memory<byte> destination, Action<int> filled, CancellationToken cancellationToken) =>
        Volatile.Read(ref _disposed) != 0 ? _inner.ReadAsync(offset, destination, filled, cancellationToken) : ReadCoreAsync(offset, destination, filled, cancellationToken);

    private async ValueTask ReadCoreAsync(long offset, Memory<byte> destination, Action<int>? filled, CancellationToken cancellationToken)
    {
        var done = 0;
        for (var index = Find(offset); index >= 0 && index < _pieces.Length && done < destination.Length; index++)
        {
            var piece = _pieces[index];
            var at = offset + done;
            if (at < piece.Offset || at >= piece.End)
            {
                break; // a gap between hinted ranges
            }
            var from = (int)(at - piece.Offset);
            var take = (int)Math.Min(piece.Length - from, destination.Length - done);
            var copied = await piece.CopyAsync(from, destination.Slice(done, take), copied => filled?.Invoke(done + copied), cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _served, copied);
            done += copied;
            if (copied < take)
            {
                break; // the piece failed or was dropped: the blob has the rest
            }
        }
        if (done < destination.Length)
        {
            var before = done;
            await _inner.ReadAsync(offset + done, destination[done..], count => filled?.Invoke(before + count), cancellationToken).ConfigureAwait(false);
        }
        else if (done == 0)
        {
            filled?.Invoke(0);
        }
    }

    /// <summary>The piece holding <paramref name="offset"/>, or -1.</summary>
    private int Find(long offset)
    {
        int low = 0, high = _pieces.Length - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            if (_pieces[middle].End <= offset)
            {
                low = middle + 1;
            }
            else if (_pieces[middle].Offset > offset)
            {
                high = middle - 1;
            }
            else
            {
                return middle;
            }
        }
        return -1;
    }

    private async Task FetchAllAsync(int parallel)
    {
        await Task.Yield();
        using var slots = new SemaphoreSlim(parallel, parallel);
        var running = new List<Task>(_pieces.Length);
        try
        {
            foreach (var piece in _pieces)
            {
                await slots.WaitAsync(_stop.Token).ConfigureAwait(false);
                await WaitForTurnAsync().ConfigureAwait(false);
                Interlocked.Increment(ref _inFlight);
                running.Add(FetchAsync(piece, slots));
            }
        }
        catch (OperationCanceledException)
        {
        }
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until this layer may start a request: none while a critical tail is on the link, and
    /// while any TOC is being read, only once no piece of its own is in flight.
    /// </summary>
    private async Task WaitForTurnAsync()
    {
        if (_tocReads is null)
        {
            return;
        }
        await _tocReads.WhenNoCritical.WaitAsync(_stop.Token).ConfigureAwait(false);
        while (_tocReads.WhenNone is { IsCompleted: false } none)
        {
            var pieceDone = Volatile.Read(ref _pieceDone).Task;
            if (Volatile.Read(ref _inFlight) == 0)
            {
                return;
            }
            await Task.WhenAny(pieceDone, none).WaitAsync(_stop.Token).ConfigureAwait(false);
        }
    }

    private async Task FetchAsync(Piece piece, SemaphoreSlim slots)
    {
        try
        {
            if (piece.BeginFetch() is { } buffer)
            {
                await _inner.ReadAsync(piece.Offset, buffer, piece.Report, _stop.Token).ConfigureAwait(false);
                piece.Report(piece.Length);
            }
        }
        catch (Exception e)
        {
            if (!_stop.IsCancellationRequested)
            {
                Log.EarlyPrefetchFailed(_logger, Digest, piece.Offset, piece.Length, e.Message);
            }
            piece.Drop();
        }
        finally
        {
            piece.EndFetch();
            Interlocked.Decrement(ref _inFlight);
            Interlocked.Exchange(ref _pieceDone, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            slots.Release();
        }
    }

    /// <summary>Stops the fetches and lets go of every piece; reads still waiting go to the blob.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        foreach (var piece in _pieces)
        {
            piece.Drop();
        }
        Log.EarlyPrefetchDone(_logger, Digest, StagedBytes, ServedBytes);
    }

    private static Piece[] Cut(IReadOnlyList<BlobSpan> hint, long pieceBytes, long maxBytes, long blobSize)
    {
        var pieces = new List<Piece>();
        long total = 0;
        foreach (var span in hint)
        {
            for (var offset = span.Offset; offset < span.End && total < maxBytes && offset < blobSize; )
            {
                var length = (int)Math.Min(Math.Min(pieceBytes, span.End - offset), Math.Min(maxBytes - total, blobSize - offset));
                pieces.Add(new Piece(offset, length));
                offset += length;
                total += length;
            }
        }
        return [.. pieces];
    }

    /// <summary>
    /// One request's bytes as they arrive, with the reads waiting for them. The buffer is rented when
    /// the request starts and goes back to the pool once the piece is released (read through or
    /// dropped) and its request is over, so that nothing writes into or reads from a returned array.
    /// A layer's hint takes its memory as its requests start and gives it back as the prefetch reads
    /// it through, rather than all of it (up to hint_max_bytes, 64 MiB) when the mount starts.
    /// </summary>
    private sealed class Piece(long offset, int length)
    {
        private readonly Lock _lock = new();
        private readonly List<(int Count, TaskCompletionSource Ready)> _waiters = [];
        private byte[]? _buffer;
        private bool _fetching;
        private bool _released;
        private int _filled;
        private int _taken;

        public long Offset { get; } = offset;

        public int Length { get; } = length;

        public long End => Offset + Length;

        /// <summary>The buffer the request fills; null if the piece was dropped before it started.</summary>
        public Memory<byte>? BeginFetch()
        {
            lock (_lock)
            {
                if (_released)
                {
                    return null;
                }
                _buffer = ArrayPool<byte>.Shared.Rent(Length);
                _fetching = true;
                return _buffer.AsMemory(0, Length);
            }
        }

        /// <summary>The request is over (done, failed or cancelled): nothing writes into the buffer any more.</summary>
        public void EndFetch()
        {
            lock (_lock)
            {
                _fetching = false;
                ReturnIfIdle();
            }
        }

        public void Report(int filled)
        {
            List<TaskCompletionSource>? ready = null;
            lock (_lock)
            {
                _filled = Math.Max(_filled, filled);
                for (var i = _waiters.Count - 1; i >= 0; i--)
                {
                    if (_waiters[i].Count <= _filled)
                    {
                        (ready ??= []).Add(_waiters[i].Ready);
                        _waiters.RemoveAt(i);
                    }
                }
            }
            ready?.ForEach(r => r.TrySetResult()); // continuations run elsewhere: the fetch goes on reading
        }

        public void Drop()
        {
            List<(int, TaskCompletionSource Ready)> waiting;
            lock (_lock)
            {
                _released = true;
                ReturnIfIdle();
                waiting = [.. _waiters];
                _waiters.Clear();
            }
            waiting.ForEach(w => w.Ready.TrySetResult());
        }

        /// <summary>
        /// Copies [<paramref name="from"/>, +destination.Length) as it arrives, telling
        /// <paramref name="copied"/> the running count; returns how many bytes it copied (fewer when the
        /// piece was dropped first). The piece lets go of its buffer once every byte has been taken.
        /// </summary>
        public async ValueTask<int> CopyAsync(int from, Memory<byte> destination, Action<int> copied, CancellationToken cancellationToken)
        {
            var done = 0;
            while (done < destination.Length)
            {
                Task? wait = null;
                lock (_lock)
                {
                    if (_released)
                    {
                        return done;
                    }
                    var available = Math.Min(_filled - from, destination.Length);
                    if (available > done)
                    {
                        _buffer!.AsSpan(from + done, available - done).CopyTo(destination.Span[done..available]);
                        done = available;
                    }
                    else
                    {
                        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        _waiters.Add((from + done + 1, ready));
                        wait = ready.Task;
                    }
                }
                if (wait is null)
                {
                    copied(done);
                }
                else
                {
                    await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            lock (_lock)
            {
                _taken += done;
                if (_taken >= Length)
                {
                    _released = true;
                    ReturnIfIdle();
                }
            }
            return done;
        }

        // Called under _lock.
        private void ReturnIfIdle()
        {
            if (_released && !_fetching && _buffer is { } buffer)
            {
                _buffer = null;
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
