using Containerd.Services.Images.V1;
using Google.Protobuf.WellKnownTypes;

namespace Snapshotter.Containerd;

/// <summary>containerd's image records in the client's namespace.</summary>
public sealed class ImageStore
{
    private readonly Connection _connection;
    private readonly Images.ImagesClient _client;

    internal ImageStore(Connection connection)
    {
        _connection = connection;
        _client = new Images.ImagesClient(connection.Invoker);
    }

    /// <summary>The image named <paramref name="name"/>, or null.</summary>
    public async Task<ImageRecord?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await _connection.CallAsync($"image get {name}",
                _client.GetAsync(new GetImageRequest { Name = name }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
            return FromProto(response.Image);
        }
        catch (ContainerdException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<ImageRecord>> ListAsync(IEnumerable<string>? filters = null, CancellationToken cancellationToken = default)
    {
        var request = new ListImagesRequest();
        request.Filters.AddRange(filters ?? []);
        var response = await _connection.CallAsync("image list", _client.ListAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Images.Select(FromProto).ToList();
    }

    /// <summary>Creates the record; fails with <see cref="ContainerdError.AlreadyExists"/> when the name is taken.</summary>
    public async Task<ImageRecord> CreateAsync(ImageRecord image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var response = await _connection.CallAsync($"image create {image.Name}",
            _client.CreateAsync(new CreateImageRequest { Image = ToProto(image) }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return FromProto(response.Image);
    }

    /// <summary>Points an existing name at the record's target and labels.</summary>
    public async Task<ImageRecord> UpdateAsync(ImageRecord image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var response = await _connection.CallAsync($"image update {image.Name}",
            _client.UpdateAsync(new UpdateImageRequest { Image = ToProto(image) }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return FromProto(response.Image);
    }

    /// <summary>Creates the record, or updates it when the name exists (as containerd's client does after a pull).</summary>
    public async Task<ImageRecord> CreateOrUpdateAsync(ImageRecord image, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await CreateAsync(image, cancellationToken).ConfigureAwait(false);
            }
            catch (ContainerdException e) when (e.IsAlreadyExists)
            {
                try
                {
                    return await UpdateAsync(image, cancellationToken).ConfigureAwait(false);
                }
                catch (ContainerdException gone) when (gone.IsNotFound && attempt < 3)
                {
                    // Removed between the two calls: create again.
                }
            }
        }
    }

    /// <summary>Deletes the record; with <paramref name="sync"/> containerd's garbage collection runs before the answer.</summary>
    public Task DeleteAsync(string name, bool sync = false, CancellationToken cancellationToken = default) =>
        _connection.CallAsync($"image delete {name}",
            _client.DeleteAsync(new DeleteImageRequest { Name = name, Sync = sync }, cancellationToken: cancellationToken), cancellationToken);

    private static Image ToProto(ImageRecord image)
    {
        var proto = new Image { Name = image.Name, Target = image.Target.ToProto() };
        proto.Labels.AddAll(image.Labels);
        return proto;
    }

    private static ImageRecord FromProto(Image image) =>
        new(image.Name, image.Target.FromProto($"image {image.Name}"))
        {
            Labels = image.Labels.ToDictionary(),
            Created = image.CreatedAt.FromProto(),
            Updated = image.UpdatedAt.FromProto(),
        };
}
