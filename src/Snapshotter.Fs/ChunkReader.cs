using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;
using Snapshotter.Fuse;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// Verified chunk reads of one layer. A read is served from the store (memory, then disk); on a
/// miss the chunk's member is fetched in a request of its own and, beside it, the members that
/// follow it in the blob (read-ahead), so later reads find them local. Concurrent reads of one
/// chunk share a single fetch. Every chunk is decompressed and checked against its TOC digest
/// before it is stored or served; failures become <see cref="FuseException"/> EIO, logged and
/// counted. Prefetch and background fetch walk the members in blob order through
/// <see cref="FetchMembersAsync"/>.
/// </summary>
internal sealed class ChunkReader
{
    /// <summary>Chunks above this are refused: they would need one buffer of that size. The Go builder makes 4 MiB chunks.</summary>
    public const long MaxChunkSize = 64L * 1024 * 1024;

    /// <summary>Read-ahead requests of one layer in flight at most: more misses than this fetch only what they need.</summary>
    private const int MaxReadAheads = 4;

    private readonly EstargzReader _reader;
    private readonly IBlob _blob;
    private readonly IChunkStore _store;
    private readonly MemberTable _members;
    private readonly LayerStatistics _statistics;
    private readonly FetchOptions _options;
    private readonly FetchGate _gate;
    private readonly ILogger _logger;
    private readonly KeyValuePair<string, object?> _layerTag;
    private readonly Lock _lock = new();
    private readonly Dictionary<Digest, Fetch> _inFlight = [];
    private readonly long[] _localMembers;
    private readonly ReadAheadWindow? _readAheadWindow; // null: a fixed window of ReadAheadBytes
    private int _readAheads;
    private int _readersWaiting; // reads waiting for a chunk another fetch brings: see InBackground
    private TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ChunkReader(EstargzReader reader, IBlob blob, IChunkStore store, MemberTable members, LayerStatistics statistics, FetchOptions options, FetchGate gate, ILogger logger)
    {
        _reader = reader;
        _blob = blob;
        _store = store;
        _members = members;
        _statistics = statistics;
        _options = options;
        _gate = gate;
        _logger = logger;
        _layerTag = new("layer", blob.Digest.ToString());
        _localMembers = new long[(members.Count + 63) / 64];
        if (options is { ReadAheadBytes: > 0, ReadAheadStartBytes: > 0 })
        {
            _readAheadWindow = new ReadAheadWindow(members.Count, options.ReadAheadStartBytes, options.ReadAheadBytes);
        }
    }

    public MemberTable Members => _members;

    /// <summary>The read-ahead the next miss sends, in compressed bytes (<see cref="FetchOptions.ReadAheadStartBytes"/>).</summary>
    internal long ReadAheadBytes => _readAheadWindow?.Bytes ?? _options.ReadAheadBytes;

    /// <summary>Read-ahead requests registered and not yet ended.</summary>
    internal int ReadAheadsInFlight
    {
        get
        {
            lock (_lock)
            {
                return _readAheads;
            }
        }
    }

    /// <summary>Copies from memory only; false when the chunk must be read from disk or fetched.</summary>
    public bool TryCopyStored(in EstargzChunk chunk, int offset, Span<byte> destination) =>
        _store.TryCopy(chunk.Digest, offset, destination);

    /// <summary>Completes the next time chunks are put on their way (a fetch registered): what <see cref="TryCopyArrivedAsync"/> waits for.</summary>
    public Task NextRegistration
    {
        get
        {
            lock (_lock)
            {
                return _registered.Task;
            }
        }
    }

    /// <summary>
    /// As <see cref="CopyAsync"/>, but starts no fetch: false when the chunk is neither stored nor on
    /// its way. For work that should follow the layer's fetches rather than add to them. Throws as
    /// the fetch it joined failed (a chunk that failed verification is never copied).
    /// </summary>
    public async ValueTask<bool> TryCopyArrivedAsync(EstargzChunk chunk, int offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Fetch? fetch;
        while (true)
        {
            if (_store.TryCopy(chunk.Digest, offset, destination.Span)
                || await _store.TryReadAsync(chunk.Digest, offset, destination, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
            lock (_lock)
            {
                if (_inFlight.TryGetValue(chunk.Digest, out fetch))
                {
                    fetch.References++;
                    break;
                }
                if (!_store.Contains(chunk.Digest))
                {
                    return false;
                }
            }
        }
        try
        {
            await fetch.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            fetch.Buffer.AsSpan(offset, destination.Length).CopyTo(destination.Span);
            return true;
        }
        finally
        {
            Release(fetch);
        }
    }

    /// <summary>Copies <c>destination.Length</c> bytes from <paramref name="offset"/> of the verified chunk.</summary>
    public async ValueTask CopyAsync(EstargzChunk chunk, int offset, Memory<byte> destination, string path, CancellationToken cancellationToken)
    {
        var member = _members.IndexOf(chunk.CompressedOffset);
        Fetch fetch;
        Span? onDemand = null;
        Span? readAhead = null;
        while (true)
        {
            if (_store.TryCopy(chunk.Digest, offset, destination.Span)
                || await _store.TryReadAsync(chunk.Digest, offset, destination, cancellationToken).ConfigureAwait(false))
            {
                MarkLocal(member);
                NoteRead(member);
                return;
            }
            lock (_lock)
            {
                if (!_inFlight.TryGetValue(chunk.Digest, out fetch!))
                {
                    if (_store.Contains(chunk.Digest))
                    {
                        continue; // a fetch stored it and left the table since the store said no
                    }
                    onDemand = RegisterSpan(member, member + 1, long.MaxValue, skipBusy: false, force: true)!;
                    fetch = _inFlight[chunk.Digest];
                    if (_readAheadWindow is not null)
                    {
                        _readAheadWindow.Missed(_members.Offset(member));
                        if (_logger.IsEnabled(LogLevel.Debug))
                        {
                            Log.ReadAheadWindow(_logger, _blob.Digest, path, _readAheadWindow.Bytes / 1024);
                        }
                    }
                    if (_options.ReadAheadBytes > 0 && _readAheads < MaxReadAheads)
                    {
                        readAhead = RegisterSpan(member + 1, _members.Count, ReadAheadBytes, skipBusy: false, force: false);
                        if (readAhead is not null)
                        {
                            _readAheads++;
                            _readAheadWindow?.Issued(readAhead.First, readAhead.Last);
                        }
                    }
                }
                else
                {
                    NoteRead(member);
                }
                fetch.References++;
                break;
            }
        }
        var joined = onDemand is null;
        if (joined)
        {
            Interlocked.Increment(ref _readersWaiting);
        }
        try
        {
            if (readAhead is not null)
            {
                _ = Task.Run(() => RunReadAheadAsync(readAhead), CancellationToken.None);
            }
            if (onDemand is not null)
            {
                // Not cancelled by this request's interrupt: other readers may be waiting for the same chunk.
                _gate.Enter();
                try
                {
                    using var timeout = new CancellationTokenSource(_options.Timeout);
                    await RunSpanAsync(onDemand, FetchKind.OnDemand, timeout.Token).ConfigureAwait(false);
                }
                finally
                {
                    _gate.Exit();
                }
            }
            await fetch.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            fetch.Buffer.AsSpan(offset, destination.Length).CopyTo(destination.Span);
        }
        finally
        {
            if (joined)
            {
                Interlocked.Decrement(ref _readersWaiting);
            }
            Release(fetch);
        }
    }

    /// <summary>
    /// Fetches every member in [<paramref name="first"/>, <paramref name="end"/>) that is not local or
    /// already on its way, in requests of at most <paramref name="maxRequestBytes"/> (a single larger
    /// member is still one request), at most <paramref name="parallel"/> at once; <paramref name="beforeEach"/> runs before each request
    /// (background fetch waits there for its turn). Failed members are logged and left for later.
    /// Returns the compressed bytes fetched.
    /// </summary>
    public Task<long> FetchMembersAsync(int first, int end, FetchKind kind, int parallel, long maxRequestBytes, Func<long, CancellationToken, ValueTask>? beforeEach, CancellationToken cancellationToken) =>
        FetchMembersAsync([new MemberRun(first, end)], kind, parallel, maxRequestBytes, beforeEach, cancellationToken);

    /// <summary>As above, for the members of each run in turn; a request never spans two runs.</summary>
    public async Task<long> FetchMembersAsync(IReadOnlyList<MemberRun> runs, FetchKind kind, int parallel, long maxRequestBytes, Func<long, CancellationToken, ValueTask>? beforeEach, CancellationToken cancellationToken)
    {
        long fetched = 0;
        var run = 0;
        var (cursor, end) = runs.Count > 0 ? (runs[0].First, runs[0].End) : (0, 0);
        var running = new List<Task<long>>();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Span? span = null;
            while (span is null)
            {
                if (cursor >= end)
                {
                    if (++run >= runs.Count)
                    {
                        break;
                    }
                    (cursor, end) = (runs[run].First, runs[run].End);
                    continue;
                }
                // Members already in the store count as local (a cache from an earlier run).
                if (AllStored(cursor))
                {
                    MarkLocal(cursor++);
                    continue;
                }
                if (beforeEach is not null)
                {
                    // Wait for the turn before taking the members: a read of one of them must not
                    // wait behind a background request that is itself waiting for the link to be quiet.
                    (int First, int Last)? next;
                    lock (_lock)
                    {
                        next = SelectSpan(cursor, end, maxRequestBytes, skipBusy: true, force: false);
                    }
                    if (next is not { } peeked)
                    {
                        cursor = end;
                        continue;
                    }
                    await beforeEach(_members.End(peeked.Last) - _members.Offset(peeked.First), cancellationToken).ConfigureAwait(false);
                }
                lock (_lock)
                {
                    span = RegisterSpan(cursor, end, maxRequestBytes, skipBusy: true, force: false);
                }
                cursor = span?.End ?? end;
            }
            if (span is not null)
            {
                running.Add(RunOwnedSpanAsync(span, kind, cancellationToken));
            }
            if (running.Count == 0)
            {
                return fetched;
            }
            if (running.Count >= parallel || span is null)
            {
                var done = await Task.WhenAny(running).ConfigureAwait(false);
                running.Remove(done);
                fetched += await done.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Read-ahead is foreground work: a container is reading the layer now.</summary>
    private async Task RunReadAheadAsync(Span span)
    {
        _gate.Enter();
        try
        {
            using var timeout = new CancellationTokenSource(_options.Timeout);
            await RunOwnedSpanAsync(span, FetchKind.ReadAhead, timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            _gate.Exit();
            lock (_lock)
            {
                _readAheads--;
            }
        }
    }

    /// <summary>Runs a span nobody waits on directly: failures are logged by the span and only reported as 0 bytes.</summary>
    private async Task<long> RunOwnedSpanAsync(Span span, FetchKind kind, CancellationToken cancellationToken)
    {
        try
        {
            return await RunSpanAsync(span, kind, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FuseException or OperationCanceledException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Registers a fetch for every chunk of the members from <paramref name="first"/> on (below
    /// <paramref name="end"/>, up to <paramref name="maxBytes"/> of compressed bytes, the first
    /// member always) that is neither stored nor in flight. The span stops at the first member that
    /// is, unless nothing was taken yet and <paramref name="skipBusy"/> lets it skip ahead;
    /// <paramref name="force"/> takes the first member even if part of it is in flight. Caller holds the lock.
    /// </summary>
    private Span? RegisterSpan(int first, int end, long maxBytes, bool skipBusy, bool force)
    {
        if (SelectSpan(first, end, maxBytes, skipBusy, force) is not (var start, var last))
        {
            return null;
        }
        var owned = new List<(MemberChunk, Fetch)>();
        for (var member = start; member <= last; member++)
        {
            foreach (var chunk in _members.Chunks(member))
            {
                var fetch = new Fetch();
                if (_inFlight.TryAdd(chunk.Chunk.Digest, fetch))
                {
                    owned.Add((chunk, fetch));
                }
            }
        }
        // Its waiters continue elsewhere (asynchronous continuations), not under this lock.
        _registered.TrySetResult();
        _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return new Span(start, last, owned);
    }

    /// <summary>The members <see cref="RegisterSpan"/> would take, without taking them; null if none. Caller holds the lock.</summary>
    private (int First, int Last)? SelectSpan(int first, int end, long maxBytes, bool skipBusy, bool force)
    {
        var start = first;
        var last = -1;
        for (var member = first; member < end; member++)
        {
            if (last >= 0 && _members.End(member) - _members.Offset(start) > maxBytes)
            {
                break;
            }
            var busy = false;
            foreach (var chunk in _members.Chunks(member))
            {
                busy |= _inFlight.ContainsKey(chunk.Chunk.Digest);
            }
            if (!(force && member == first) && (busy || AllStored(member)))
            {
                if (last < 0 && skipBusy)
                {
                    start = member + 1;
                    continue;
                }
                break;
            }
            last = member;
        }
        return last < 0 ? null : (start, last);
    }

    private bool AllStored(int member)
    {
        foreach (var chunk in _members.Chunks(member))
        {
            if (!_store.Contains(chunk.Chunk.Digest))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// One Range request for the span's members; each chunk is decompressed, verified, handed to
    /// its waiters and stored as soon as its member has arrived, while the rest of the body is
    /// still on its way.
    /// </summary>
    private async Task<long> RunSpanAsync(Span span, FetchKind kind, CancellationToken cancellationToken)
    {
        var start = _members.Offset(span.First);
        var length = _members.End(span.Last) - start;
        var firstPath = _members.Chunks(span.First)[0].Path;
        if (length > MaxChunkSize * 2 + _options.MaxRequestBytes)
        {
            var chunk = _members.Chunks(span.First)[0].Chunk;
            Log.ChunkTooLarge(_logger, _blob.Digest, firstPath, chunk.FileOffset, length, MaxChunkSize);
            _statistics.AddReadFailure();
            var error = new FuseException(Errno.EIO, $"chunk of '{firstPath}' is too large");
            FailSpan(span, error, 0);
            throw error;
        }
        var compressed = ArrayPool<byte>.Shared.Rent((int)length);
        var arrival = new Arrival();
        var started = Stopwatch.GetTimestamp();
        _statistics.AddBlobRead();
        var read = ReadBlobAsync(start, compressed.AsMemory(0, (int)length), arrival, cancellationToken);
        var completed = 0;
        using var shared = new SharedMember(_reader, _members);
        try
        {
            var failed = new HashSet<int>();
            for (; completed < span.Owned.Count; completed++)
            {
                var (chunk, fetch) = span.Owned[completed];
                var member = _members.IndexOf(chunk.Chunk.CompressedOffset);
                var memberStart = (int)(_members.Offset(member) - start);
                var memberLength = (int)_members.Length(member);
                await arrival.WhenFilledAsync(memberStart + memberLength, read).ConfigureAwait(false);
                if (arrival.Filled < memberStart + memberLength)
                {
                    await read.ConfigureAwait(false); // it ended first: it failed, and this throws
                }
                var memberBytes = compressed.AsMemory(memberStart, memberLength);
                ValueTask<bool> completing;
                using (IdleCpu.Enter(InBackground(kind)))
                {
                    completing = CompleteChunkAsync(chunk, fetch, memberBytes, shared.Inflate(member, memberBytes.Span), kind);
                }
                if (!await completing.ConfigureAwait(false))
                {
                    failed.Add(member);
                }
            }
            await read.ConfigureAwait(false);
            var received = Stopwatch.GetTimestamp();
            for (var member = span.First; member <= span.Last; member++)
            {
                if (!failed.Contains(member))
                {
                    MarkLocal(member);
                }
            }
            FsMetrics.Fetched(_layerTag, kind, length, Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.Fetched(_logger, _blob.Digest, FsMetrics.KindName(kind), length, start, firstPath,
                    Stopwatch.GetElapsedTime(started, received).TotalMilliseconds, Stopwatch.GetElapsedTime(received).TotalMilliseconds);
            }
            return length;
        }
        catch (Exception e) when (read.IsFaulted || read.IsCanceled)
        {
            _statistics.AddReadFailure();
            FsMetrics.FetchFailed(_layerTag);
            var timedOut = e is OperationCanceledException && kind is FetchKind.OnDemand or FetchKind.ReadAhead;
            Log.ChunkReadFailed(_logger, _blob.Digest, firstPath, FsMetrics.KindName(kind), length, timedOut ? "timed out" : e.Message, e);
            var error = new FuseException($"reading '{firstPath}' from the blob failed: {e.Message}", e);
            FailSpan(span, error, completed);
            throw error;
        }
        finally
        {
            // The buffer goes back to the pool only once nothing writes into it any more.
            await read.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    /// <summary>Whether a chunk's work may wait for idle CPU: prefetch and background fetch, while no container's read waits for this layer's fetches.</summary>
    private bool InBackground(FetchKind kind) =>
        _options.IdlePriority && kind is FetchKind.Prefetch or FetchKind.Background && Volatile.Read(ref _readersWaiting) == 0;

    private async Task ReadBlobAsync(long offset, Memory<byte> destination, Arrival arrival, CancellationToken cancellationToken) =>
        await _blob.ReadAsync(offset, destination, arrival.Report, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Decompresses (or, from a member several chunks share, copies out of <paramref name="inflated"/>)
    /// and verifies one chunk, hands it to its waiters, then stores it; false if it failed.
    /// </summary>
    private async ValueTask<bool> CompleteChunkAsync(MemberChunk item, Fetch fetch, ReadOnlyMemory<byte> member, ReadOnlyMemory<byte>? inflated, FetchKind kind)
    {
        var (chunk, path) = item;
        if (chunk.Size > MaxChunkSize)
        {
            Log.ChunkTooLarge(_logger, _blob.Digest, path, chunk.FileOffset, chunk.Size, MaxChunkSize);
            _statistics.AddReadFailure();
            Finish(chunk.Digest, fetch, new FuseException(Errno.EIO, $"chunk of '{path}' is too large"));
            return false;
        }
        var output = ArrayPool<byte>.Shared.Rent((int)chunk.Size);
        try
        {
            if (inflated is { } whole)
            {
                EstargzReader.ReadChunkFromInflated(chunk, whole.Span, output);
            }
            else
            {
                _reader.ReadChunk(chunk, member.Span, output);
            }
        }
        catch (Exception e) when (e is DigestMismatchException or EstargzFormatException or InvalidDataException)
        {
            ArrayPool<byte>.Shared.Return(output);
            _statistics.AddVerificationFailure();
            FsMetrics.VerificationFailed(_layerTag);
            Log.VerificationFailed(_logger, _blob.Digest, path, chunk.FileOffset, e);
            Finish(chunk.Digest, fetch, new FuseException($"a chunk of '{path}' failed verification", e));
            return false;
        }
        _statistics.AddDecompressed();
        fetch.Buffer = output;
        fetch.Completion.SetResult();
        try
        {
            var readSoon = kind is FetchKind.OnDemand or FetchKind.ReadAhead;
            await _store.AddAsync(chunk.Digest, output.AsMemory(0, (int)chunk.Size), readSoon, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.StoreFailed(_logger, _blob.Digest, path, e);
        }
        Finish(chunk.Digest, fetch, null);
        return true;
    }

    /// <summary>Ends a fetch: fails it (if not done), takes it out of the in-flight table, drops the span's reference.</summary>
    private void Finish(Digest digest, Fetch fetch, Exception? error)
    {
        if (error is not null)
        {
            fetch.Completion.TrySetException(error);
        }
        lock (_lock)
        {
            if (_inFlight.TryGetValue(digest, out var current) && current == fetch)
            {
                _inFlight.Remove(digest);
            }
        }
        Release(fetch);
    }

    /// <summary>Fails the span's fetches from <paramref name="from"/> on: those before it were completed.</summary>
    private void FailSpan(Span span, Exception error, int from)
    {
        foreach (var (chunk, fetch) in span.Owned.Skip(from))
        {
            Finish(chunk.Chunk.Digest, fetch, error);
        }
    }

    /// <summary>A read of the member: feeds the read-ahead window and counts read-ahead that paid.</summary>
    private void NoteRead(int member)
    {
        if (_readAheadWindow?.Read(member) == true)
        {
            FsMetrics.ReadAheadUsed(_layerTag, _members.Length(member));
        }
    }

    private void MarkLocal(int member)
    {
        if (member < 0)
        {
            return;
        }
        var bit = 1L << (member & 63);
        if ((Interlocked.Or(ref _localMembers[member >> 6], bit) & bit) == 0)
        {
            _statistics.AddFetched(_members.Length(member));
        }
    }

    private void Release(Fetch fetch)
    {
        bool last;
        lock (_lock)
        {
            last = --fetch.References == 0;
        }
        if (last && fetch.Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(fetch.Buffer);
            fetch.Buffer = [];
        }
    }

    /// <summary>Members [First, Last] of one request and the fetches it registered (and must finish).</summary>
    private sealed class Span(int first, int last, List<(MemberChunk Chunk, Fetch Fetch)> owned)
    {
        public int First => first;

        public int Last => last;

        public int End => last + 1;

        public List<(MemberChunk Chunk, Fetch Fetch)> Owned => owned;
    }

    /// <summary>One chunk on its way and the readers waiting for it; the last one to let go returns the buffer.</summary>
    private sealed class Fetch
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public byte[] Buffer { get; set; } = [];

        /// <summary>Guarded by the reader's lock; the span that fetches the chunk holds one.</summary>
        public int References { get; set; } = 1;
    }
}
