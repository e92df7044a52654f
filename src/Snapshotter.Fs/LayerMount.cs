using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using System.Diagnostics;
using Snapshotter.Estargz;
using Snapshotter.Fs.Fetching;
using Snapshotter.Fuse;
using Snapshotter.Fuse.Handover;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// One eStargz layer mounted read-only with FUSE: the inode tree built from the reader's TOC,
/// content read and verified chunk by chunk through an <see cref="IBlob"/>. Usable directly as an
/// overlayfs lowerdir. Dispose unmounts (lazily) and stops serving.
/// </summary>
public sealed class LayerMount : IDisposable
{
    private readonly FuseMount _mount;
    private readonly FuseServer _server;
    private readonly Passthrough? _passthrough;
    private readonly LocalCopies? _localCopies;
    private readonly PageCacheFill? _fill;
    private readonly LayerContent _content;
    private readonly FuseHandover? _handover;
    private readonly ILogger _logger;
    private int _disposed;

    private LayerMount(FuseMount mount, FuseServer server, Passthrough? passthrough, LocalCopies? localCopies, PageCacheFill? fill, LayerContent content, FuseHandover? handover, ILogger logger)
    {
        _fill = fill;
        _mount = mount;
        _server = server;
        _passthrough = passthrough;
        _localCopies = localCopies;
        _content = content;
        _handover = handover;
        _logger = logger;
    }

    /// <summary>Completes when the prefetch region is local (or failed: reads then fetch on demand); never faults.</summary>
    public Task PrefetchCompletion => _content.PrefetchCompletion;

    public string MountPoint => _mount.MountPoint;

    public Digest LayerDigest => _content.LayerDigest;

    public LayerStatistics Statistics => _content.Statistics;

    /// <summary>What INIT settled with the kernel (e.g. whether passthrough is available).</summary>
    public FuseConnectionParameters? Connection => _server.Connection;

    /// <summary>Completes when the kernel has ended the connection (unmounted from outside, or aborted).</summary>
    public Task Completion => _server.Completion;

    /// <summary>
    /// Builds the inode tree of <paramref name="reader"/>'s layer and mounts it at
    /// <paramref name="mountPoint"/> (an existing directory). <paramref name="blob"/> serves chunk
    /// reads and must be the blob the reader was opened on.
    /// </summary>
    public static async Task<LayerMount> MountAsync(
        EstargzReader reader,
        IBlob blob,
        string mountPoint,
        LayerMountOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        var content = LayerContent.Open(reader, blob, options, loggerFactory);
        try
        {
            return await MountAsync(content, mountPoint, loggerFactory, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Mounts <paramref name="content"/> at <paramref name="mountPoint"/> (an existing directory),
    /// starts its prefetch if it has not started, and hands it to background fetch after it. The
    /// mount owns the content from here on; when this throws, the caller still does.
    /// </summary>
    /// <param name="localCopies">
    /// An existing directory that overlayfs stacks right above the mount: whole copies of the files the
    /// prefetch brings are written there (<see cref="LocalCopies"/>); null: none.
    /// </param>
    public static async Task<LayerMount> MountAsync(LayerContent content, string mountPoint, ILoggerFactory? loggerFactory = null,
        string? localCopies = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<LayerMount>();
        var options = content.Options;
        var blob = content.Blob;
        var started = Stopwatch.GetTimestamp();
        var passthrough = options.PassthroughDirectory is { } directory
            ? new Passthrough(Path.Combine(directory, blob.Digest.Hex + "-" + Guid.NewGuid().ToString("N")[..8]), content.Chunks, blob.Digest, options.PassthroughBudget, logger)
            : null;
        // Passthrough reads go straight to their backing files, never through the page cache of the mount.
        var fill = options.Prefetch is { Enabled: true, FillPageCache: true } && passthrough is null ? new PageCacheFill(content, logger) : null;
        var fileSystem = new LayerFileSystem(content.Tree, content.Chunks, blob, content.Statistics, options.AttributeTimeout, passthrough, fill);

        // The tree, so node ids and handles, follow from the blob and the opaque xattr alone: a
        // connection that served the same identity can be served by this tree.
        var identity = $"{blob.Digest} {options.OpaqueXattr}";
        var inherited = options.Handover?.TryTake(mountPoint, identity);
        FuseMount? mount = null;
        FuseServer? server = null;
        try
        {
            mount = inherited is null ? FuseMount.Mount(mountPoint, options.Mount, logger) : FuseMount.Adopt(mountPoint, inherited.Device, logger: logger);
            var serverOptions = inherited is null ? options.Server : options.Server with { Negotiated = inherited.Parameters };
            server = new FuseServer(mount.Device, fileSystem, serverOptions, loggerFactory.CreateLogger<FuseServer>());
            fill?.Attach(server);
            var mounted = Stopwatch.GetTimestamp();
            server.Start();
            await server.Initialized.WaitAsync(options.InitTimeout, cancellationToken).ConfigureAwait(false);
            var initialized = Stopwatch.GetTimestamp();
            ApplyReadAhead(mount.MountPoint, content, logger);
            var readAhead = Stopwatch.GetTimestamp();
            options.Handover?.Keep(mount.MountPoint, identity, mount.Device, server.Connection!);
            Log.MountTimes(logger, blob.Digest, content.TreeMilliseconds, Stopwatch.GetElapsedTime(started, mounted).TotalMilliseconds,
                Stopwatch.GetElapsedTime(mounted, initialized).TotalMilliseconds, Stopwatch.GetElapsedTime(initialized, readAhead).TotalMilliseconds,
                Stopwatch.GetElapsedTime(readAhead).TotalMilliseconds);
            if (inherited is null)
            {
                Log.Mounted(logger, blob.Digest, mount.MountPoint, content.Tree.Count, content.Tree.TotalFileBytes);
            }
            else
            {
                Log.Resumed(logger, blob.Digest, mount.MountPoint, content.Tree.Count);
            }
            FsMetrics.Track(content.Statistics, blob.Digest.ToString());
            _ = content.BackgroundAfterPrefetchAsync();
            var copies = localCopies is null ? null : new LocalCopies(localCopies, content, logger);
            copies?.Start();
            return new LayerMount(mount, server, passthrough, copies, fill, content, options.Handover, logger);
        }
        catch
        {
            mount?.Unmount();
            server?.Stop();
            mount?.Dispose();
            inherited?.Device.Dispose();
            options.Handover?.Forget(mountPoint);
            passthrough?.Dispose();
            fill?.Dispose();
            throw;
        }
    }

    /// <summary>The lazy readahead until the layer is fully local, then the full one (the kernel reads the bdi's at each open).</summary>
    private static void ApplyReadAhead(string mountPoint, LayerContent content, ILogger logger)
    {
        var full = content.Options.ReadAheadKiB;
        var lazy = content.Statistics.FullyLocal.IsCompleted ? null : content.Options.LazyReadAheadKiB;
        if ((lazy ?? full) is { } now)
        {
            SetReadAhead(mountPoint, now, content.LayerDigest, logger);
        }
        if (lazy is not null && full is { } complete && complete != lazy)
        {
            _ = RaiseWhenLocalAsync(mountPoint, complete, content, logger);
        }
    }

    private static async Task RaiseWhenLocalAsync(string mountPoint, int kiB, LayerContent content, ILogger logger)
    {
        try
        {
            await content.Statistics.FullyLocal.WaitAsync(content.Lifetime).ConfigureAwait(false);
            SetReadAhead(mountPoint, kiB, content.LayerDigest, logger);
        }
        catch (OperationCanceledException)
        {
            // Unmounted first.
        }
    }

    /// <summary>Sets read_ahead_kb of the mount's bdi, found by its device number in /proc/self/mountinfo.</summary>
    private static void SetReadAhead(string mountPoint, int kiB, Digest layer, ILogger logger)
    {
        try
        {
            var escaped = mountPoint.Replace("\\", "\\134", StringComparison.Ordinal).Replace(" ", "\\040", StringComparison.Ordinal)
                .Replace("\t", "\\011", StringComparison.Ordinal).Replace("\n", "\\012", StringComparison.Ordinal);
            // id parent major:minor root mountpoint ...; the last match is the mount on top.
            var device = File.ReadLines("/proc/self/mountinfo").Select(line => line.Split(' ')).LastOrDefault(f => f.Length > 4 && f[4] == escaped)?[2]
                ?? throw new IOException($"{mountPoint} is not in /proc/self/mountinfo");
            File.WriteAllText($"/sys/class/bdi/{device}/read_ahead_kb", kiB.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.ReadAheadFailed(logger, layer, mountPoint, kiB, e);
        }
    }

    /// <summary>Completes when the local copies are written (at once without them).</summary>
    public Task LocalCopiesCompletion => _localCopies?.Completion ?? Task.CompletedTask;

    /// <summary>Files and bytes copied to the local copies directory so far.</summary>
    public (int Files, long Bytes) LocalCopied => _localCopies is { } copies ? (copies.Files, copies.Bytes) : default;

    /// <summary>Bytes of prefetched pages put into the kernel's page cache so far (<see cref="PrefetchOptions.FillPageCache"/>).</summary>
    public long PageCacheFilled => _fill?.Bytes ?? 0;

    /// <summary>Waits until the passthrough files started so far are written (no-op without passthrough).</summary>
    public Task WhenPassthroughIdleAsync() => _passthrough?.WhenIdleAsync() ?? Task.CompletedTask;

    /// <summary>Unmounts the layer for good (lazily) and stops serving it; its kept connection is let go.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            _mount.Unmount();
        }
        catch (IOException e)
        {
            Log.UnmountFailed(_logger, LayerDigest, MountPoint, e);
        }
        _server.Stop();
        _mount.Dispose();
        _handover?.Forget(MountPoint);
        Release();
        Log.Unmounted(_logger, LayerDigest, MountPoint);
    }

    /// <summary>
    /// Stops serving but leaves the layer mounted, for the next process to resume from the
    /// <see cref="LayerMountOptions.Handover"/> store (a daemon shutting down for a restart). Reads
    /// still in flight are left to the next server. Without a handover store this is <see cref="Dispose"/>.
    /// </summary>
    public void Suspend()
    {
        if (_handover is null)
        {
            Dispose();
            return;
        }
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _server.StopForHandover();
        _mount.Device.Dispose(); // ours only: the store's duplicates keep the connection
        Release();
        Log.Suspended(_logger, LayerDigest, MountPoint);
    }

    private void Release()
    {
        FsMetrics.Untrack(Statistics);
        _localCopies?.Dispose();
        _fill?.Dispose();
        _passthrough?.Dispose();
        _content.Dispose();
    }
}
