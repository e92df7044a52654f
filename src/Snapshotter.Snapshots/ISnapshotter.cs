namespace Snapshotter.Snapshots;

/// <summary>
/// containerd's <c>snapshots.Snapshotter</c> contract. Failures containerd distinguishes are
/// <see cref="SnapshotException"/>s with a <see cref="SnapshotError"/>; anything else is a bug or an I/O failure.
/// </summary>
public interface ISnapshotter
{
    /// <summary>Creates an active (writable) snapshot on <paramref name="parent"/> (empty = none) and returns its mounts.</summary>
    Task<IReadOnlyList<SnapshotMount>> PrepareAsync(string key, string parent, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>Creates a read-only view of <paramref name="parent"/> and returns its mounts.</summary>
    Task<IReadOnlyList<SnapshotMount>> ViewAsync(string key, string parent, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>The mounts of an active snapshot or a view.</summary>
    Task<IReadOnlyList<SnapshotMount>> MountsAsync(string key, CancellationToken cancellationToken);

    /// <summary>Commits the active snapshot <paramref name="key"/> as <paramref name="name"/>; its labels become <paramref name="labels"/>.</summary>
    Task CommitAsync(string name, string key, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>Removes a snapshot that has no children.</summary>
    Task RemoveAsync(string key, CancellationToken cancellationToken);

    Task<SnapshotInfo> StatAsync(string key, CancellationToken cancellationToken);

    /// <summary>Updates the labels of <c>info.Name</c>: field paths <c>labels</c> or <c>labels.&lt;key&gt;</c>; none = all labels.</summary>
    Task<SnapshotInfo> UpdateAsync(SnapshotInfo info, IReadOnlyList<string> fieldPaths, CancellationToken cancellationToken);

    Task<SnapshotUsage> UsageAsync(string key, CancellationToken cancellationToken);

    /// <summary>Snapshots matching any of the containerd filter expressions (none = all).</summary>
    Task<IReadOnlyList<SnapshotInfo>> ListAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken);

    /// <summary>Releases what removed snapshots left behind: directories and mounts.</summary>
    Task CleanupAsync(CancellationToken cancellationToken);
}

/// <summary>Options of <see cref="OverlaySnapshotter"/>.</summary>
public sealed record SnapshotterOptions
{
    /// <summary>Root directory: <c>metadata.db</c> and <c>snapshots/&lt;id&gt;/{fs,work}</c>.</summary>
    public required string Root { get; init; }

    /// <summary>If a remote snapshot cannot be re-mounted on start, leave its directory empty instead of failing the start.</summary>
    public bool AllowInvalidMountsOnRestart { get; init; }
}
