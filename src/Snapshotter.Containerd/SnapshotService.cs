using Containerd.Services.Snapshots.V1;

namespace Snapshotter.Containerd;

/// <summary>One snapshotter of containerd (its name on every request), in the client's namespace.</summary>
public sealed class SnapshotService
{
    private readonly Connection _connection;
    private readonly Snapshots.SnapshotsClient _client;

    internal SnapshotService(Connection connection, string snapshotter)
    {
        _connection = connection;
        Snapshotter = snapshotter;
        _client = new Snapshots.SnapshotsClient(connection.Invoker);
    }

    public string Snapshotter { get; }

    /// <summary>
    /// An active snapshot <paramref name="key"/> on <paramref name="parent"/> (empty for none) and the mounts
    /// to write into it. A remote snapshotter may answer <see cref="ContainerdError.AlreadyExists"/>
    /// having committed the layer itself (protocols.md §4.5).
    /// </summary>
    public async Task<IReadOnlyList<MountSpec>> PrepareAsync(string key, string parent, IReadOnlyDictionary<string, string>? labels = null,
        CancellationToken cancellationToken = default)
    {
        var request = new PrepareSnapshotRequest { Snapshotter = Snapshotter, Key = key, Parent = parent };
        request.Labels.AddAll(labels);
        var response = await _connection.CallAsync($"snapshot prepare {key}", _client.PrepareAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Mounts.FromProto();
    }

    /// <summary>A read-only view of <paramref name="parent"/>.</summary>
    public async Task<IReadOnlyList<MountSpec>> ViewAsync(string key, string parent, IReadOnlyDictionary<string, string>? labels = null,
        CancellationToken cancellationToken = default)
    {
        var request = new ViewSnapshotRequest { Snapshotter = Snapshotter, Key = key, Parent = parent };
        request.Labels.AddAll(labels);
        var response = await _connection.CallAsync($"snapshot view {key}", _client.ViewAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Mounts.FromProto();
    }

    public async Task<IReadOnlyList<MountSpec>> MountsAsync(string key, CancellationToken cancellationToken = default)
    {
        var response = await _connection.CallAsync($"snapshot mounts {key}",
            _client.MountsAsync(new MountsRequest { Snapshotter = Snapshotter, Key = key }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Mounts.FromProto();
    }

    /// <summary>Commits the active snapshot <paramref name="key"/> as <paramref name="name"/>.</summary>
    public Task CommitAsync(string name, string key, IReadOnlyDictionary<string, string>? labels = null, CancellationToken cancellationToken = default)
    {
        var request = new CommitSnapshotRequest { Snapshotter = Snapshotter, Name = name, Key = key };
        request.Labels.AddAll(labels);
        return _connection.CallAsync($"snapshot commit {key} as {name}", _client.CommitAsync(request, cancellationToken: cancellationToken), cancellationToken);
    }

    public Task RemoveAsync(string key, CancellationToken cancellationToken = default) =>
        _connection.CallAsync($"snapshot remove {key}",
            _client.RemoveAsync(new RemoveSnapshotRequest { Snapshotter = Snapshotter, Key = key }, cancellationToken: cancellationToken), cancellationToken);

    /// <summary>The snapshot named <paramref name="key"/>, or null.</summary>
    public async Task<SnapshotRecord?> StatAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await _connection.CallAsync($"snapshot stat {key}",
                _client.StatAsync(new StatSnapshotRequest { Snapshotter = Snapshotter, Key = key }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
            return FromProto(response.Info);
        }
        catch (ContainerdException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    /// <summary>The snapshots matching any of <paramref name="filters"/> (containerd filter syntax; none lists all).</summary>
    public IAsyncEnumerable<SnapshotRecord> ListAsync(IEnumerable<string>? filters = null, CancellationToken cancellationToken = default)
    {
        var request = new ListSnapshotsRequest { Snapshotter = Snapshotter };
        request.Filters.AddRange(filters ?? []);
        return _connection.StreamAsync($"snapshot list ({Snapshotter})", _client.List(request, cancellationToken: cancellationToken),
            response => response.Info.Select(FromProto), cancellationToken);
    }

    private static SnapshotRecord FromProto(Info info) => new(
        info.Name, info.Parent, (SnapshotKind)(int)info.Kind, info.Labels.ToDictionary(), info.CreatedAt.FromProto(), info.UpdatedAt.FromProto());
}
