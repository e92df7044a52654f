using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using System.Diagnostics;
using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// What a layer is besides its mount: the inode tree built from the reader's TOC, the chunk store
/// and the verified chunk reader, and the layer's prefetch. It can exist before the layer is
/// mounted, so that an image's other layers start their prefetch while containerd is still
/// preparing the first ones; <see cref="LayerMount.MountAsync(LayerContent, string, ILoggerFactory?, string?, CancellationToken)"/>
/// then serves it, and owns it from then on. Background fetch starts only once it is mounted.
/// Disposing it stops its fetches.
/// </summary>
public sealed class LayerContent : IDisposable
{
    private readonly IDisposable? _ownStore;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _lock = new();
    private readonly ILogger _logger;
    private readonly Lazy<(int End, List<MemberRun> Runs)> _prefetchRegion;
    private Task? _prefetch;
    private int _disposed;

    private LayerContent(EstargzReader reader, IBlob blob, LayerMountOptions options, LayerTree tree, IChunkStore store, IDisposable? ownStore, ILogger logger, double treeMilliseconds)
    {
        Reader = reader;
        Blob = blob;
        Options = options;
        Tree = tree;
        _ownStore = ownStore;
        _logger = logger;
        TreeMilliseconds = treeMilliseconds;
        Statistics = new LayerStatistics(tree.Members.TotalCompressedBytes);
        Gate = options.Background?.Gate ?? new FetchGate();
        Chunks = new ChunkReader(reader, blob, store, tree.Members, Statistics, options.Fetch, Gate, logger);
        // The prefetch fetches these and the local copies follow them: worked out once, for both.
        _prefetchRegion = new(() =>
        {
            var end = PrefetchEnd(Reader, Tree.Members, Options.Prefetch);
            return (end, end == 0 ? [] : IsSmall(Tree.Members, Options.Prefetch) ? [new MemberRun(0, end)] : PrefetchRuns(Tree.Members, end));
        });
    }

    public Digest LayerDigest => Blob.Digest;

    public LayerStatistics Statistics { get; }

    /// <summary>Completes when the prefetch region is local (or failed: reads then fetch on demand); never faults. Not started: completed.</summary>
    public Task PrefetchCompletion
    {
        get
        {
            lock (_lock)
            {
                return _prefetch ?? Task.CompletedTask;
            }
        }
    }

    internal EstargzReader Reader { get; }

    internal IBlob Blob { get; }

    internal LayerMountOptions Options { get; }

    internal LayerTree Tree { get; }

    internal ChunkReader Chunks { get; }

    internal FetchGate Gate { get; }

    internal double TreeMilliseconds { get; }

    /// <summary>Cancelled when the content is disposed (the layer unmounted).</summary>
    internal CancellationToken Lifetime => _lifetime.Token;

    /// <summary>Builds the layer's tree and chunk reader; fetches nothing yet. <paramref name="blob"/> must be the blob the reader was opened on.</summary>
    public static LayerContent Open(EstargzReader reader, IBlob blob, LayerMountOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(blob);
        options ??= LayerMountOptions.Default;
        options.Fetch.Validate();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LayerMount>();
        var started = Stopwatch.GetTimestamp();
        var tree = LayerTree.Build(reader, options.OpaqueXattr);
        var treeMilliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        IChunkStore store = options.Cache is { } cache ? new CachedChunkStore(cache, blob.Digest)
            : options.ChunkStore ?? new MemoryChunkStore(options.RecentChunkBytes);
        var ownStore = store == options.ChunkStore ? null : (IDisposable)store;
        return new LayerContent(reader, blob, options, tree, store, ownStore, logger, treeMilliseconds);
    }

    /// <summary>Whether <paramref name="other"/> would prefetch the same members of this layer as its own options do.</summary>
    public bool PrefetchesAlike(PrefetchOptions other) =>
        PrefetchEnd(Reader, Tree.Members, other) == PrefetchEnd(Reader, Tree.Members, Options.Prefetch);

    /// <summary>Unmarked compressed bytes between two prefetched runs that are fetched rather than skipped.</summary>
    internal const long PrefetchMergeGap = PrefetchHint.MergeGap;

    /// <summary>Starts fetching the prefetch region, once; later calls return the same task (<see cref="PrefetchCompletion"/>).</summary>
    public Task StartPrefetch()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_prefetch is null)
            {
                // Reads of a new layer are likely to follow: background fetch keeps off the link a while.
                Gate.Touch();
                _prefetch = PrefetchAsync(_lifetime.Token);
            }
            return _prefetch;
        }
    }

    /// <summary>Hands the layer to background fetch once its prefetch is done (the mount calls this).</summary>
    internal async Task BackgroundAfterPrefetchAsync()
    {
        await StartPrefetch().ConfigureAwait(false);
        if (!_lifetime.IsCancellationRequested)
        {
            Options.Background?.Enqueue(Chunks, Statistics, LayerDigest, _lifetime.Token);
        }
    }

    /// <summary>
    /// Fetches the prefetch region as foreground work of the gate (a container start may wait
    /// for it; background fetch keeps off the link meanwhile).
    /// </summary>
    private async Task PrefetchAsync(CancellationToken lifetime)
    {
        await Task.Yield();
        var (end, runs) = _prefetchRegion.Value;
        if (end == 0)
        {
            return;
        }
        var started = Stopwatch.GetTimestamp();
        Gate.Enter();
        try
        {
            var bytes = await Chunks.FetchMembersAsync(runs, FetchKind.Prefetch, Options.Fetch.PrefetchRequests, Options.Fetch.MaxRequestBytes, null, lifetime).ConfigureAwait(false);
            Log.Prefetched(_logger, LayerDigest, bytes, end, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log.PrefetchFailed(_logger, LayerDigest, e);
        }
        finally
        {
            Gate.Exit(prefetch: true);
        }
    }

    /// <summary>
    /// Copies from the verified chunk, waiting while the prefetch may still bring it; false once the
    /// prefetch has ended without it. Starts no fetch. Blocks the calling thread: for threads of
    /// their own that follow the prefetch (<see cref="LocalCopies"/>, <see cref="PageCacheFill"/>).
    /// </summary>
    internal bool CopyArrived(EstargzChunk chunk, int offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var prefetch = PrefetchCompletion;
        while (true)
        {
            var next = Chunks.NextRegistration;
            var ended = prefetch.IsCompleted;
            var copying = Chunks.TryCopyArrivedAsync(chunk, offset, destination, cancellationToken);
            if (copying.IsCompleted ? copying.Result : copying.AsTask().GetAwaiter().GetResult())
            {
                return true;
            }
            if (ended)
            {
                return false;
            }
            Task.WhenAny(next, prefetch).Wait(cancellationToken);
        }
    }

    /// <summary>Whether <paramref name="chunk"/>'s member is among <paramref name="prefetched"/> (from <see cref="PrefetchedMembers"/>).</summary>
    internal bool InPrefetch(bool[] prefetched, in EstargzChunk chunk) =>
        Tree.Members.IndexOf(chunk.CompressedOffset) is var member && member >= 0 && prefetched[member];

    /// <summary>Which members the prefetch fetches (by index); null when it fetches none.</summary>
    internal bool[]? PrefetchedMembers()
    {
        var (end, runs) = _prefetchRegion.Value;
        if (end == 0)
        {
            return null;
        }
        var prefetched = new bool[Tree.Members.Count];
        foreach (var run in runs)
        {
            prefetched.AsSpan(run.First, run.End - run.First).Fill(true);
        }
        return prefetched;
    }

    /// <summary>How many members (from the start of the blob) prefetch covers: all of a small layer's (<see cref="PrefetchOptions.WholeLayerMaxBytes"/>), else what its landmarks say.</summary>
    internal static int PrefetchEnd(EstargzReader reader, MemberTable members, PrefetchOptions options)
    {
        if (!options.Enabled)
        {
            return 0;
        }
        if (IsSmall(members, options))
        {
            return members.Count;
        }
        if (reader.HasNoPrefetchLandmark)
        {
            return 0;
        }
        if (reader.PrefetchLandmarkOffset is { } landmark)
        {
            return members.CountBefore(landmark);
        }
        return options.SizeWithoutLandmark > 0 ? members.CountBefore(options.SizeWithoutLandmark) : 0;
    }

    /// <summary>
    /// Whether the files the prefetch brings whole get local copies (<see cref="LocalCopies"/>): not
    /// those of a layer prefetched only for being small while its TOC asks for no prefetch
    /// (<c>.no.prefetch.landmark</c>). Such a layer's accesses must still reach the mount, where
    /// <c>estargz optimize</c> records a workload on an image that is not optimized yet.
    /// </summary>
    internal bool CopiesPrefetchedFiles => !(Reader.HasNoPrefetchLandmark && IsSmall(Tree.Members, Options.Prefetch));

    /// <summary>Whether the layer's file data is small enough to be prefetched whole, every chunk of it (<see cref="PrefetchOptions.WholeLayerMaxBytes"/>).</summary>
    private static bool IsSmall(MemberTable members, PrefetchOptions options) =>
        members.Count > 0 && members.End(members.Count - 1) <= options.WholeLayerMaxBytes;

    /// <summary>
    /// The members of the prefetch region [0, <paramref name="end"/>) that prefetch fetches: all of
    /// them, except that a file some of whose chunks the TOC marks <c>prefetch</c> (read by the
    /// recorded workload) gives only its marked ones. Runs closer than <see cref="PrefetchMergeGap"/>
    /// compressed bytes are joined: one request costs more than those bytes.
    /// </summary>
    internal static List<MemberRun> PrefetchRuns(MemberTable members, int end)
    {
        var marked = new HashSet<string>(StringComparer.Ordinal);
        for (var member = 0; member < end; member++)
        {
            foreach (var chunk in members.Chunks(member))
            {
                if (chunk.Chunk.Prefetch)
                {
                    marked.Add(chunk.Path);
                }
            }
        }
        if (marked.Count == 0)
        {
            return end == 0 ? [] : [new MemberRun(0, end)];
        }
        var runs = new List<MemberRun>();
        for (var member = 0; member < end; member++)
        {
            var wanted = false;
            foreach (var chunk in members.Chunks(member))
            {
                wanted |= chunk.Chunk.Prefetch || !marked.Contains(chunk.Path);
            }
            if (!wanted)
            {
                continue;
            }
            if (runs.Count > 0 && members.Offset(member) - members.End(runs[^1].End - 1) < PrefetchMergeGap)
            {
                runs[^1] = runs[^1] with { End = member + 1 };
            }
            else
            {
                runs.Add(new MemberRun(member, member + 1));
            }
        }
        return runs;
    }

    /// <summary>Stops the layer's fetches and lets go of its store.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed++ != 0)
            {
                return;
            }
        }
        _lifetime.Cancel(); // not disposed: a fetch finishing may still ask for its token
        _ownStore?.Dispose();
    }
}
