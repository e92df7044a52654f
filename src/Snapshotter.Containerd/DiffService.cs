using Containerd.Services.Diff.V1;
using Snapshotter.Oci;

namespace Snapshotter.Containerd;

/// <summary>containerd's diff service (the applier of its default differ).</summary>
public sealed class DiffService
{
    private readonly Connection _connection;
    private readonly Diff.DiffClient _client;

    internal DiffService(Connection connection)
    {
        _connection = connection;
        _client = new Diff.DiffClient(connection.Invoker);
    }

    /// <summary>
    /// Unpacks the layer blob (already in the content store) onto <paramref name="mounts"/>, and
    /// answers with the uncompressed tar's descriptor, whose digest is the layer's diff id.
    /// </summary>
    public async Task<Descriptor> ApplyAsync(Descriptor layer, IReadOnlyList<MountSpec> mounts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(mounts);
        var request = new ApplyRequest { Diff = layer.ToProto() };
        request.Mounts.AddRange(mounts.Select(m => m.ToProto()));
        var response = await _connection.CallAsync($"diff apply {layer.Digest}", _client.ApplyAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Applied.FromProto($"applied layer {layer.Digest}");
    }
}
