using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Snapshotter.Snapshots;

/// <summary>
/// containerd snapshot semantics on overlayfs, laid out like containerd's own overlayfs snapshotter
/// (<c>&lt;root&gt;/snapshots/&lt;id&gt;/fs</c> and <c>/work</c>), plus the remote-snapshot protocol
/// (protocols.md §4.5 points 2–4, 8–10) over <see cref="IRemoteFileSystem"/>.
/// Call <see cref="RestoreAsync"/> once before serving.
/// </summary>
public sealed class OverlaySnapshotter : ISnapshotter, IDisposable
{
    private readonly MetadataStore _store;
    private readonly IRemoteFileSystem _remote;
    private readonly TimeProvider _time;
    private readonly ILogger<OverlaySnapshotter> _logger;
    private readonly SnapshotterOptions _options;
    private readonly string _snapshots;
    private readonly bool _indexOff;
    private readonly ConcurrentDictionary<string, bool> _warnedTargets = new(StringComparer.Ordinal);

    public OverlaySnapshotter(SnapshotterOptions options, IRemoteFileSystem remote, TimeProvider time, ILogger<OverlaySnapshotter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _remote = remote;
        _time = time;
        _logger = logger;
        var root = Path.GetFullPath(options.Root);
        _snapshots = Path.Combine(root, "snapshots");
        Directory.CreateDirectory(_snapshots);
        _store = new MetadataStore(Path.Combine(root, "metadata.db"));
        // Like containerd: overlay's index feature breaks reuse of lower dirs across mounts, turn it off where the kernel has it.
        _indexOff = File.Exists("/sys/module/overlay/parameters/index");
    }

    /// <summary>The <c>fs</c> directory of snapshot <paramref name="id"/>.</summary>
    public string FsPath(long id) => Path.Combine(_snapshots, id.ToString(CultureInfo.InvariantCulture), "fs");

    /// <summary>The local copies directory of remote snapshot <paramref name="id"/>, stacked above its <c>fs</c> when the remote filesystem writes one.</summary>
    private string LocalPath(long id) => IRemoteFileSystem.LocalCopiesOf(FsPath(id));

    private string WorkPath(long id) => Path.Combine(_snapshots, id.ToString(CultureInfo.InvariantCulture), "work");

    private string SnapshotDirectory(long id) => Path.Combine(_snapshots, id.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// Detaches leftover mounts under <c>snapshots/</c>, except those whose connection was kept for
    /// this process, and mounts (or resumes) every remote snapshot from its stored labels.
    /// </summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var kept = _remote.KeptMountPoints.ToHashSet(StringComparer.Ordinal);
        var leftovers = MountTable.Under(_snapshots).Count(m => !kept.Contains(m));
        if (leftovers > 0)
        {
            foreach (var (mountPoint, errno) in MountTable.DetachAllUnder(_snapshots, kept))
            {
                Log.DetachFailed(_logger, mountPoint, errno);
            }
            Log.DetachedLeftovers(_logger, leftovers, _snapshots);
        }
        await MountRemoteSnapshotsAsync(cancellationToken);
        // Not on failure: kept connections wait, unserved, for the next attempt to restore them.
        _remote.ReleaseUnclaimed();
    }

    private async Task MountRemoteSnapshotsAsync(CancellationToken cancellationToken)
    {
        foreach (var record in _store.Read(t => t.All()).Where(r => r.IsRemote))
        {
            var fs = FsPath(record.Id);
            Directory.CreateDirectory(fs);
            if (_remote.WritesLocalCopies)
            {
                Directory.CreateDirectory(LocalPath(record.Id)); // a snapshot from before local copies has none
            }
            try
            {
                await _remote.MountAsync(fs, record.Labels, cancellationToken);
                Log.Restored(_logger, record.Name, fs);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (!_options.AllowInvalidMountsOnRestart)
                {
                    throw new InvalidOperationException(
                        $"failed to restore remote snapshot {record.Name} at {fs}: {e.Message} " +
                        "(set allow_invalid_mounts_on_restart to start anyway and remove it with `ctr snapshot rm`)", e);
                }
                Log.RestoreFailedAllowed(_logger, record.Name, fs, e);
            }
        }
    }

    public async Task<IReadOnlyList<SnapshotMount>> PrepareAsync(string key, string parent, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        Log.Operation(_logger, "prepare", key);
        if (SnapshotLabels.AsksForRemote(labels))
        {
            var target = labels[SnapshotLabels.TargetRef];
            var existing = _store.Read(t => t.Find(target));
            if (existing is { Kind: SnapshotKind.Committed } && existing.Parent == parent)
            {
                throw SnapshotException.AlreadyExists($"target snapshot {target} already exists");
            }
            var active = Create(SnapshotKind.Active, key, parent, labels);
            // Read before the remote Prepare commits the key away.
            var remoteAncestors = _store.Read(t => t.Ancestors(active)).Where(a => a.IsRemote).Select(a => FsPath(a.Id)).ToList();
            if (await TryPrepareRemoteAsync(active, target, labels, cancellationToken))
            {
                await _remote.PreparedAsync(FsPath(active.Id), remoteAncestors, labels, cancellationToken);
                throw SnapshotException.AlreadyExists($"target snapshot {target} already exists");
            }
            return await MountsOfAsync(active, cancellationToken);
        }
        return await MountsOfAsync(Create(SnapshotKind.Active, key, parent, labels), cancellationToken);
    }

    public async Task<IReadOnlyList<SnapshotMount>> ViewAsync(string key, string parent, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        Log.Operation(_logger, "view", key);
        return await MountsOfAsync(Create(SnapshotKind.View, key, parent, labels), cancellationToken);
    }

    public async Task<IReadOnlyList<SnapshotMount>> MountsAsync(string key, CancellationToken cancellationToken)
    {
        RequireName(key, "key");
        var record = _store.Read(t => t.Get(key));
        if (record.Kind == SnapshotKind.Committed)
        {
            throw SnapshotException.FailedPrecondition($"snapshot {key} is committed: only active snapshots and views have mounts");
        }
        return await MountsOfAsync(record, cancellationToken);
    }

    public Task CommitAsync(string name, string key, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        Log.Operation(_logger, "commit", key);
        Commit(name, key, labels, remote: false);
        return Task.CompletedTask;
    }

    public async Task RemoveAsync(string key, CancellationToken cancellationToken)
    {
        Log.Operation(_logger, "remove", key);
        RequireName(key, "key");
        var removed = _store.Write(t =>
        {
            var record = t.Get(key);
            if (t.HasChildren(record.Id))
            {
                throw SnapshotException.FailedPrecondition($"cannot remove snapshot {key}: it has children");
            }
            t.Delete(record.Id);
            return record;
        });
        await ReleaseDirectoryAsync(removed.Id, removed.IsRemote, cancellationToken);
    }

    public Task<SnapshotInfo> StatAsync(string key, CancellationToken cancellationToken)
    {
        RequireName(key, "key");
        return Task.FromResult(_store.Read(t => t.Get(key)).ToInfo());
    }

    public Task<SnapshotInfo> UpdateAsync(SnapshotInfo info, IReadOnlyList<string> fieldPaths, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        RequireName(info.Name, "name");
        Log.Operation(_logger, "update", info.Name);
        var updated = _store.Write(t =>
        {
            var record = t.Get(info.Name);
            var labels = new Dictionary<string, string>(record.Labels, StringComparer.Ordinal);
            if (fieldPaths.Count == 0)
            {
                labels = new Dictionary<string, string>(info.Labels, StringComparer.Ordinal);
            }
            foreach (var path in fieldPaths)
            {
                if (path == "labels")
                {
                    labels = new Dictionary<string, string>(info.Labels, StringComparer.Ordinal);
                }
                else if (path.StartsWith("labels.", StringComparison.Ordinal) && path.Length > "labels.".Length)
                {
                    var labelKey = path["labels.".Length..];
                    if (info.Labels.TryGetValue(labelKey, out var value))
                    {
                        labels[labelKey] = value;
                    }
                    else
                    {
                        labels.Remove(labelKey);
                    }
                }
                else
                {
                    throw SnapshotException.InvalidArgument($"cannot update {path} field on snapshot {info.Name}");
                }
            }
            // containerd drops labels set to the empty string.
            foreach (var empty in labels.Where(l => l.Value.Length == 0).Select(l => l.Key).ToList())
            {
                labels.Remove(empty);
            }
            // Our own bookkeeping: a remote snapshot stays remote, or a restart would not re-mount it.
            if (record.Labels.TryGetValue(SnapshotLabels.Remote, out var remote))
            {
                labels[SnapshotLabels.Remote] = remote;
            }
            ValidateLabels(labels);
            t.UpdateLabels(record.Id, labels, _time.GetUtcNow());
            return t.Get(info.Name);
        });
        return Task.FromResult(updated.ToInfo());
    }

    public Task<SnapshotUsage> UsageAsync(string key, CancellationToken cancellationToken)
    {
        RequireName(key, "key");
        var record = _store.Read(t => t.Get(key));
        return Task.FromResult(record.Kind == SnapshotKind.Committed ? record.Usage : DiskUsage.Of(FsPath(record.Id)));
    }

    public Task<IReadOnlyList<SnapshotInfo>> ListAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        var filter = SnapshotFilter.ParseAll(filters);
        IReadOnlyList<SnapshotInfo> infos = _store.Read(t => t.All()).Select(r => r.ToInfo()).Where(filter.Matches).ToList();
        return Task.FromResult(infos);
    }

    public async Task CleanupAsync(CancellationToken cancellationToken)
    {
        // Under the store lock no creation is half done, so any directory without a record is an orphan.
        var orphans = _store.Read(t =>
        {
            var ids = t.Ids();
            return Directory.EnumerateDirectories(_snapshots)
                .Where(d => !long.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || !ids.Contains(id))
                .ToList();
        });
        foreach (var orphan in orphans)
        {
            var fs = Path.Combine(orphan, "fs");
            if (MountTable.Under(fs).Count > 0)
            {
                await UnmountRemoteAsync(fs, cancellationToken);
            }
            if (DeleteUnmounted(orphan))
            {
                Log.CleanedUp(_logger, orphan);
            }
        }
    }

    /// <summary>SQLite's own consistency check of the metadata database ("ok" when sound).</summary>
    public string CheckMetadataIntegrity() => _store.IntegrityCheck();

    public void Dispose() => _store.Dispose();

    private async Task<bool> TryPrepareRemoteAsync(SnapshotRecord active, string target, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var fs = FsPath(active.Id);
        if (_remote.WritesLocalCopies)
        {
            Directory.CreateDirectory(LocalPath(active.Id));
        }
        try
        {
            await _remote.MountAsync(fs, labels, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (_warnedTargets.TryAdd(target, true))
            {
                Log.RemoteFallback(_logger, target, active.Name, e.Message);
            }
            else
            {
                Log.RemoteFallbackAgain(_logger, target, active.Name, e.Message);
            }
            // A failed mount must leave nothing behind; make sure before containerd applies the layer here.
            foreach (var (mountPoint, errno) in MountTable.DetachAllUnder(fs))
            {
                Log.DetachFailed(_logger, mountPoint, errno);
            }
            if (Directory.Exists(LocalPath(active.Id)))
            {
                Directory.Delete(LocalPath(active.Id), recursive: true);
            }
            return false;
        }

        var committedLabels = new Dictionary<string, string>(labels, StringComparer.Ordinal)
        {
            [SnapshotLabels.Remote] = SnapshotLabels.RemoteValue,
        };
        try
        {
            Commit(target, active.Name, committedLabels, remote: true);
            Log.RemotePrepared(_logger, target, active.Name, active.Parent);
            return true;
        }
        catch (Exception e)
        {
            // Either the target appeared meanwhile (then it is there: success for containerd) or the commit
            // failed; in both cases this key's layer is released so nothing leaks.
            Log.RemoteCommitFailed(_logger, target, e);
            _store.Write(t =>
            {
                t.Delete(active.Id);
                return true;
            });
            await ReleaseDirectoryAsync(active.Id, remote: true, cancellationToken);
            if (e is SnapshotException { Error: SnapshotError.AlreadyExists })
            {
                return true;
            }
            throw;
        }
    }

    private SnapshotRecord Create(SnapshotKind kind, string key, string parent, IReadOnlyDictionary<string, string> labels)
    {
        RequireName(key, "key");
        ValidateLabels(labels);
        return _store.Write(t =>
        {
            if (t.Find(key) is not null)
            {
                throw SnapshotException.AlreadyExists($"snapshot {key} already exists");
            }
            long? parentId = null;
            if (parent.Length > 0)
            {
                var parentRecord = t.Find(parent) ?? throw SnapshotException.NotFound($"parent snapshot {parent} does not exist");
                if (parentRecord.Kind != SnapshotKind.Committed)
                {
                    throw SnapshotException.InvalidArgument($"parent {parent} is not a committed snapshot");
                }
                parentId = parentRecord.Id;
            }
            var temporary = Path.Combine(_snapshots, "new-" + Guid.NewGuid().ToString("N"));
            try
            {
                Directory.CreateDirectory(Path.Combine(temporary, "fs"));
                if (kind == SnapshotKind.Active)
                {
                    Directory.CreateDirectory(Path.Combine(temporary, "work"));
                }
                var id = t.Insert(key, parentId, kind, _time.GetUtcNow(), labels);
                var directory = SnapshotDirectory(id);
                if (Directory.Exists(directory) && !DeleteUnmounted(directory))
                {
                    throw new IOException($"stale directory {directory} is still mounted");
                }
                Directory.Move(temporary, directory);
                return t.Get(key);
            }
            catch
            {
                if (Directory.Exists(temporary))
                {
                    Directory.Delete(temporary, recursive: true);
                }
                throw;
            }
        });
    }

    private void Commit(string name, string key, IReadOnlyDictionary<string, string> labels, bool remote)
    {
        RequireName(name, "name");
        RequireName(key, "key");
        ValidateLabels(labels);
        _store.Write(t =>
        {
            if (t.Find(name) is not null)
            {
                throw SnapshotException.AlreadyExists($"snapshot {name} already exists");
            }
            var record = t.Find(key) ?? throw SnapshotException.NotFound($"active snapshot {key} does not exist");
            if (record.Kind != SnapshotKind.Active)
            {
                throw SnapshotException.FailedPrecondition($"snapshot {key} is not active");
            }
            // A remote layer's size is the registry's business; walking it would fetch every file's metadata.
            var usage = remote ? default : DiskUsage.Of(FsPath(record.Id));
            t.Commit(record.Id, name, _time.GetUtcNow(), labels, usage);
            return true;
        });
    }

    private async Task<IReadOnlyList<SnapshotMount>> MountsOfAsync(SnapshotRecord record, CancellationToken cancellationToken)
    {
        var ancestors = _store.Read(t => t.Ancestors(record));
        // At once: each check may wait for a registry round trip.
        await Task.WhenAll(ancestors.Where(a => a.IsRemote).Select(a => CheckRemoteAsync(a, cancellationToken)));
        return BuildMounts(record, ancestors);
    }

    private async Task CheckRemoteAsync(SnapshotRecord ancestor, CancellationToken cancellationToken)
    {
        var fs = FsPath(ancestor.Id);
        try
        {
            await _remote.CheckAsync(fs, ancestor.Labels, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.CheckFailed(_logger, ancestor.Name, fs, e);
            throw SnapshotException.Unavailable($"layer {ancestor.Name} is unavailable: {e.Message}", e);
        }
    }

    private List<SnapshotMount> BuildMounts(SnapshotRecord record, IReadOnlyList<SnapshotRecord> ancestors)
    {
        if (ancestors.Count == 0)
        {
            return [new SnapshotMount("bind", FsPath(record.Id), [record.Kind == SnapshotKind.View ? "ro" : "rw", "rbind"])];
        }
        var options = new List<string>();
        if (_indexOff)
        {
            options.Add("index=off");
        }
        if (record.Kind == SnapshotKind.Active)
        {
            options.Add("workdir=" + WorkPath(record.Id));
            options.Add("upperdir=" + FsPath(record.Id));
        }
        var lowerdirs = ancestors.SelectMany(LowerDirectories).ToList();
        if (record.Kind != SnapshotKind.Active && lowerdirs.Count == 1)
        {
            return [new SnapshotMount("bind", lowerdirs[0], ["ro", "rbind"])];
        }
        options.Add("lowerdir=" + string.Join(':', lowerdirs));
        return [new SnapshotMount("overlay", "overlay", options)];
    }

    /// <summary>A snapshot's lower directories, top first: a remote one's local copies above its mount.</summary>
    private IEnumerable<string> LowerDirectories(SnapshotRecord ancestor) =>
        ancestor.IsRemote && _remote.WritesLocalCopies ? [LocalPath(ancestor.Id), FsPath(ancestor.Id)] : [FsPath(ancestor.Id)];

    private async Task ReleaseDirectoryAsync(long id, bool remote, CancellationToken cancellationToken)
    {
        if (remote)
        {
            await UnmountRemoteAsync(FsPath(id), cancellationToken);
        }
        DeleteUnmounted(SnapshotDirectory(id));
    }

    private async Task UnmountRemoteAsync(string fs, CancellationToken cancellationToken)
    {
        try
        {
            await _remote.UnmountAsync(fs, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.UnmountFailed(_logger, fs, e);
        }
    }

    /// <summary>Deletes a snapshot directory after detaching anything still mounted in it; never deletes through a mount.</summary>
    private bool DeleteUnmounted(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return true;
        }
        var failures = MountTable.DetachAllUnder(directory);
        foreach (var (mountPoint, errno) in failures)
        {
            Log.DetachFailed(_logger, mountPoint, errno);
        }
        if (failures.Count > 0 || MountTable.Under(directory).Count > 0)
        {
            return false;
        }
        Directory.Delete(directory, recursive: true);
        return true;
    }

    private static void RequireName(string value, string what)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw SnapshotException.InvalidArgument($"snapshot {what} must not be empty");
        }
    }

    private static void ValidateLabels(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value) in labels)
        {
            if (key.Length == 0)
            {
                throw SnapshotException.InvalidArgument("label key must not be empty");
            }
            if (Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value) > SnapshotLabels.MaxLabelSize)
            {
                throw SnapshotException.InvalidArgument(
                    $"label key and value greater than maximum size ({SnapshotLabels.MaxLabelSize} bytes), key: {key[..Math.Min(key.Length, 64)]}");
            }
        }
    }
}
