using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Oci;

namespace Snapshotter.Cache.Disk;

/// <summary>
/// This process's presence on a cache root, so that several processes (the daemon, and
/// <c>stargzctl cache gc</c>) can share it: a locked instances/&lt;id&gt;.lock file while open,
/// temp files named after the id, and the layers it leases in instances/&lt;id&gt;.layers for the
/// other processes' GC to honour. Files of an instance whose lock is no longer held belong to a
/// process that died and are removed by whoever looks next.
/// </summary>
internal sealed class CacheInstance : IDisposable
{
    private const string LockSuffix = ".lock";
    private const string LayersSuffix = ".layers";
    private const string TempSuffix = ".tmp";

    /// <summary>Names a lock file has in tmp/ before it is locked and renamed into instances/; never swept.</summary>
    private const string LockingSuffix = ".locking";

    private readonly CacheLayout _layout;
    private readonly ILogger _logger;
    private readonly SafeFileHandle _lock;
    private readonly Lock _gate = new();
    private readonly Dictionary<Digest, int> _leases = [];
    private long _tempSequence;

    private CacheInstance(CacheLayout layout, ILogger logger, string id, SafeFileHandle lockHandle)
    {
        _layout = layout;
        _logger = logger;
        Id = id;
        _lock = lockHandle;
    }

    public string Id { get; }

    private string LockPath => LockPathOf(Id);

    private string LayersPath => Path.Combine(_layout.Instances, Id + LayersSuffix);

    /// <summary>
    /// Creates and locks this instance's lock file. It is locked under tmp/ and then renamed into
    /// instances/, so no other process ever sees it there unlocked and takes it for a dead one's.
    /// </summary>
    public static CacheInstance Register(CacheLayout layout, ILogger logger)
    {
        var id = Guid.NewGuid().ToString("N");
        var locking = Path.Combine(layout.Temp, id + LockingSuffix);
        if (InstanceLock.TryLock(locking, FileMode.CreateNew, out var handle) != InstanceLock.State.Locked)
        {
            throw new IOException($"could not lock a new instance file '{locking}'");
        }
        try
        {
            File.Move(locking, LockPathOf(layout, id));
        }
        catch
        {
            handle!.Dispose();
            ChunkFiles.DeleteQuietly(locking);
            throw;
        }
        return new CacheInstance(layout, logger, id, handle!);
    }

    public string NextTempPath() =>
        Path.Combine(_layout.Temp, string.Create(CultureInfo.InvariantCulture, $"{Id}.{Interlocked.Increment(ref _tempSequence)}{TempSuffix}"));

    public IDisposable Acquire(Digest layer)
    {
        lock (_gate)
        {
            _leases[layer] = _leases.GetValueOrDefault(layer) + 1;
            if (_leases[layer] == 1)
            {
                WriteLeases();
            }
        }
        return new Lease(this, layer);
    }

    /// <summary>Layers leased by this instance and by every other live one on the root.</summary>
    public HashSet<Digest> LeasedLayers()
    {
        HashSet<Digest> leased;
        lock (_gate)
        {
            leased = [.. _leases.Keys];
        }
        foreach (var file in Directory.EnumerateFiles(_layout.Instances, "*" + LayersSuffix))
        {
            var id = Path.GetFileName(file)[..^LayersSuffix.Length];
            if (id == Id || !IsAlive(id))
            {
                continue;
            }
            try
            {
                foreach (var line in File.ReadLines(file))
                {
                    if (Digest.TryParse(line, out var layer))
                    {
                        leased.Add(layer);
                    }
                }
            }
            catch (FileNotFoundException)
            {
                // that instance just closed
            }
        }
        return leased;
    }

    /// <summary>
    /// Removes the temp, lease and lock files of instances whose lock is free (their process
    /// died). Safe against a concurrent sweep by another process. Returns how many files went.
    /// </summary>
    public int RemoveStaleFiles()
    {
        var removed = 0;
        var alive = new Dictionary<string, bool>(StringComparer.Ordinal) { [Id] = true };
        // Memoized per sweep; an id first seen in tmp/ (an instance that registered meanwhile) is
        // looked up then, so its fresh temp files are not taken for a dead one's.
        bool IsAliveCached(string id)
        {
            if (!alive.TryGetValue(id, out var live))
            {
                alive[id] = live = IsAlive(id);
            }
            return live;
        }

        foreach (var lockFile in Directory.EnumerateFiles(_layout.Instances, "*" + LockSuffix))
        {
            var id = Path.GetFileName(lockFile)[..^LockSuffix.Length];
            if (id == Id)
            {
                continue;
            }
            var state = InstanceLock.TryLock(lockFile, FileMode.Open, out var handle);
            alive[id] = state == InstanceLock.State.Held;
            if (handle is not null)
            {
                using (handle)
                {
                    removed += DeleteCounted(Path.Combine(_layout.Instances, id + LayersSuffix));
                    removed += DeleteCounted(lockFile); // while we hold it: no one else can take it for live
                }
            }
        }
        foreach (var file in Directory.EnumerateFiles(_layout.Instances, "*" + LayersSuffix))
        {
            if (!IsAliveCached(Path.GetFileName(file)[..^LayersSuffix.Length]))
            {
                removed += DeleteCounted(file);
            }
        }
        foreach (var file in Directory.EnumerateFiles(_layout.Temp))
        {
            var name = Path.GetFileName(file);
            var dot = name.IndexOf('.', StringComparison.Ordinal);
            if (dot <= 0)
            {
                continue;
            }
            var stale = name.EndsWith(LockingSuffix, StringComparison.Ordinal)
                // a crash between creating and renaming a lock file leaves one; give live ones time
                ? File.GetLastWriteTimeUtc(file) < DateTime.UtcNow.AddHours(-1)
                : !IsAliveCached(name[..dot]);
            if (stale)
            {
                removed += DeleteCounted(file);
            }
        }
        return removed;
    }

    public void Dispose()
    {
        ChunkFiles.DeleteQuietly(LayersPath);
        ChunkFiles.DeleteQuietly(LockPath);
        _lock.Dispose();
    }

    private static string LockPathOf(CacheLayout layout, string id) => Path.Combine(layout.Instances, id + LockSuffix);

    private string LockPathOf(string id) => LockPathOf(_layout, id);

    private bool IsAlive(string id)
    {
        var state = InstanceLock.TryLock(LockPathOf(id), FileMode.Open, out var handle);
        handle?.Dispose();
        return state == InstanceLock.State.Held;
    }

    private static int DeleteCounted(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }
        ChunkFiles.DeleteQuietly(path);
        return 1;
    }

    private void Release(Digest layer)
    {
        lock (_gate)
        {
            if (--_leases[layer] == 0)
            {
                _leases.Remove(layer);
                WriteLeases();
            }
        }
    }

    /// <summary>Rewrites the lease file atomically; mounts are rare, so this is cheap. Called under the gate.</summary>
    private void WriteLeases()
    {
        var temp = NextTempPath();
        try
        {
            File.WriteAllLines(temp, _leases.Keys.Select(layer => layer.Value));
            File.Move(temp, LayersPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The lease still holds in this process; only another process's GC misses it.
            ChunkFiles.DeleteQuietly(temp);
            Log.LeaseFileFailed(_logger, LayersPath, e);
        }
    }

    private sealed class Lease(CacheInstance instance, Digest layer) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                instance.Release(layer);
            }
        }
    }
}
