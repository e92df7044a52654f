using System.Globalization;
using Containerd.Services.Leases.V1;

namespace Snapshotter.Containerd;

/// <summary>containerd's leases: what a request made under a lease is kept from garbage collection until the lease ends.</summary>
public sealed class LeaseManager
{
    /// <summary>The label that makes containerd's garbage collector drop a lease after this time (RFC 3339).</summary>
    public const string ExpireLabel = "containerd.io/gc.expire";

    private readonly Connection _connection;
    private readonly Leases.LeasesClient _client;

    internal LeaseManager(Connection connection)
    {
        _connection = connection;
        _client = new Leases.LeasesClient(connection.Invoker);
    }

    /// <summary>Creates a lease; with <paramref name="expires"/> it also ends by itself if the client never deletes it (a crash).</summary>
    public async Task<LeaseRecord> CreateAsync(string? id = null, DateTimeOffset? expires = null, IReadOnlyDictionary<string, string>? labels = null,
        CancellationToken cancellationToken = default)
    {
        var request = new CreateRequest { Id = id ?? "" };
        request.Labels.AddAll(labels);
        if (expires is { } time)
        {
            request.Labels[ExpireLabel] = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }
        var response = await _connection.CallAsync("lease create", _client.CreateAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return FromProto(response.Lease);
    }

    public Task DeleteAsync(string id, bool sync = false, CancellationToken cancellationToken = default) =>
        _connection.CallAsync($"lease delete {id}",
            _client.DeleteAsync(new DeleteRequest { Id = id, Sync = sync }, cancellationToken: cancellationToken), cancellationToken);

    public async Task<IReadOnlyList<LeaseRecord>> ListAsync(IEnumerable<string>? filters = null, CancellationToken cancellationToken = default)
    {
        var request = new ListRequest();
        request.Filters.AddRange(filters ?? []);
        var response = await _connection.CallAsync("lease list", _client.ListAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Leases.Select(FromProto).ToList();
    }

    /// <summary>Makes the lease hold an object that exists already (writes under the lease join it by themselves).</summary>
    public Task AddResourceAsync(string id, LeaseResource resource, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return _connection.CallAsync($"lease {id}: add {resource.Type} {resource.Id}",
            _client.AddResourceAsync(new AddResourceRequest { Id = id, Resource = new Resource { Id = resource.Id, Type = resource.Type } }, cancellationToken: cancellationToken),
            cancellationToken);
    }

    public async Task<IReadOnlyList<LeaseResource>> ListResourcesAsync(string id, CancellationToken cancellationToken = default)
    {
        var response = await _connection.CallAsync($"lease {id}: list resources",
            _client.ListResourcesAsync(new ListResourcesRequest { Id = id }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Resources.Select(r => new LeaseResource(r.Type, r.Id)).ToList();
    }

    private static LeaseRecord FromProto(Lease lease) => new(lease.Id, lease.CreatedAt.FromProto(), lease.Labels.ToDictionary());
}
