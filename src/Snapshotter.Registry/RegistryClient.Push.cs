using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Snapshotter.Oci;
using Snapshotter.Registry.Hosts;
using Snapshotter.Registry.Http;

namespace Snapshotter.Registry;

public sealed partial class RegistryClient
{
    public async Task<bool> BlobExistsAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        var endpoint = PushEndpoint(repository);
        using var response = await SendAsync(endpoint, repository.Repository, HttpMethod.Head, endpoint.Url(repository.Repository, "blobs", digest.Value),
            $"blob {digest}", digest: digest, actions: "pull,push", cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => true,
            HttpStatusCode.NotFound => false,
            _ => throw await RegistryErrors.ToExceptionAsync(response.Message, $"blob {digest}", repository.Registry, repository.Repository, digest, cancellationToken).ConfigureAwait(false),
        };
    }

    public async Task<BlobPushResult> PushBlobAsync(ImageReference repository, Descriptor descriptor, Func<Stream> openContent, BlobPushOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(openContent);
        options ??= new BlobPushOptions();
        if (options.ChunkSize is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ChunkSize must be positive");
        }
        if (await BlobExistsAsync(repository, descriptor.Digest, cancellationToken).ConfigureAwait(false))
        {
            Log.BlobExists(_logger, descriptor.Digest.Value, repository.Name);
            return BlobPushResult.Existed;
        }
        var endpoint = PushEndpoint(repository);
        var repo = repository.Repository;
        var what = $"blob upload {descriptor.Digest}";
        var location = await StartUploadAsync(endpoint, repository, descriptor.Digest, options.MountFrom, cancellationToken).ConfigureAwait(false);
        if (location is null)
        {
            return BlobPushResult.Mounted;
        }

        if (options.ChunkSize is { } chunkSize)
        {
            location = await PatchChunksAsync(endpoint, repository, descriptor, openContent, chunkSize, location, cancellationToken).ConfigureAwait(false);
        }
        var finish = WithQuery(location, "digest=" + Uri.EscapeDataString(descriptor.Digest.Value));
        Func<HttpContent> body = options.ChunkSize is null
            ? () => Sized(openContent(), descriptor, repository)
            : () => new ByteArrayContent([]);
        using var put = await SendAsync(endpoint, repo, HttpMethod.Put, finish, what, digest: descriptor.Digest, actions: "pull,push",
            content: body, retry: options.ChunkSize is null, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (put.StatusCode != HttpStatusCode.Created)
        {
            throw await RegistryErrors.ToExceptionAsync(put.Message, what, repository.Registry, repo, descriptor.Digest, cancellationToken).ConfigureAwait(false);
        }
        CheckServedDigest(put, descriptor.Digest, what, repository);
        return BlobPushResult.Uploaded;
    }

    public async Task<bool> MountBlobAsync(ImageReference repository, Digest digest, string fromRepository, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentException.ThrowIfNullOrEmpty(fromRepository);
        var endpoint = PushEndpoint(repository);
        var location = await StartUploadAsync(endpoint, repository, digest, fromRepository, cancellationToken).ConfigureAwait(false);
        if (location is null)
        {
            return true;
        }
        // The registry opened an upload instead; cancel it rather than leave it to expire.
        try
        {
            using var cancel = await SendAsync(endpoint, repository.Repository, HttpMethod.Delete, location, $"blob upload {digest}", digest: digest,
                actions: "pull,push", retry: false, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e)
        {
            Log.UploadCancelFailed(_logger, digest.Value, repository.Name, e.Message);
        }
        return false;
    }

    public async Task DeleteManifestAsync(ImageReference reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var digest = reference.Digest ?? throw new ArgumentException($"{reference} names no digest; registries delete manifests by digest", nameof(reference));
        var endpoint = PushEndpoint(reference);
        var what = $"manifest {digest} deletion";
        using var response = await SendAsync(endpoint, reference.Repository, HttpMethod.Delete, endpoint.Url(reference.Repository, "manifests", digest.Value), what,
            digest: digest, actions: "pull,push,delete", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.Accepted or HttpStatusCode.OK or HttpStatusCode.NoContent))
        {
            throw await RegistryErrors.ToExceptionAsync(response.Message, what, reference.Registry, reference.Repository, digest, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>POSTs a new upload (with a cross-repository mount when <paramref name="mountFrom"/> is set): its Location, or null when the blob was mounted.</summary>
    private async Task<Uri?> StartUploadAsync(RegistryEndpoint endpoint, ImageReference repository, Digest digest, string? mountFrom, CancellationToken cancellationToken)
    {
        var repo = repository.Repository;
        var what = $"blob upload {digest}";
        var query = mountFrom is null ? null : $"mount={Uri.EscapeDataString(digest.Value)}&from={Uri.EscapeDataString(mountFrom)}";
        using var start = await SendAsync(endpoint, repo, HttpMethod.Post, endpoint.Url(repo, "blobs", "uploads/", query), what, digest: digest,
            actions: "pull,push", extraScope: mountFrom is null ? null : $"repository:{mountFrom}:pull",
            content: () => new ByteArrayContent([]), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (start.StatusCode == HttpStatusCode.Created && mountFrom is not null)
        {
            Log.BlobMounted(_logger, digest.Value, repository.Name, mountFrom);
            return null;
        }
        if (start.StatusCode != HttpStatusCode.Accepted)
        {
            throw await RegistryErrors.ToExceptionAsync(start.Message, what, repository.Registry, repo, digest, cancellationToken).ConfigureAwait(false);
        }
        return UploadLocation(start, what, repository);
    }

    public async Task<Digest> PushManifestAsync(ImageReference reference, string mediaType, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentException.ThrowIfNullOrEmpty(mediaType);
        if (!MediaTypes.IsManifest(mediaType) && !MediaTypes.IsIndex(mediaType))
        {
            throw new ArgumentException($"'{mediaType}' is not a manifest or index media type", nameof(mediaType));
        }
        var digest = Digest.Compute(content.Span);
        if (reference.Digest is { } pinned && pinned != digest)
        {
            throw new DigestMismatchException($"manifest pushed as {reference}", pinned, digest);
        }
        var endpoint = PushEndpoint(reference);
        var what = $"manifest {reference.ManifestReference}";
        using var response = await SendAsync(endpoint, reference.Repository, HttpMethod.Put, endpoint.Url(reference.Repository, "manifests", reference.ManifestReference), what,
            digest: digest, actions: "pull,push", content: () =>
            {
                var body = new ReadOnlyMemoryContent(content);
                body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return body;
            }, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw await RegistryErrors.ToExceptionAsync(response.Message, what, reference.Registry, reference.Repository, digest, cancellationToken).ConfigureAwait(false);
        }
        CheckServedDigest(response, digest, what, reference);
        return digest;
    }

    private async Task<Uri> PatchChunksAsync(RegistryEndpoint endpoint, ImageReference repository, Descriptor descriptor, Func<Stream> openContent, int chunkSize, Uri location, CancellationToken cancellationToken)
    {
        var what = $"blob upload {descriptor.Digest}";
        await using var stream = openContent();
        var buffer = new byte[chunkSize];
        long offset = 0;
        while (true)
        {
            var filled = 0;
            int read;
            while (filled < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false)) > 0)
            {
                filled += read;
            }
            if (filled == 0)
            {
                break;
            }
            var first = offset;
            var count = filled;
            using var patch = await SendAsync(endpoint, repository.Repository, HttpMethod.Patch, location, what, digest: descriptor.Digest, actions: "pull,push",
                content: () =>
                {
                    var body = new ByteArrayContent(buffer, 0, count);
                    body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    // The distribution spec's chunk range has no "bytes " unit: <first>-<last>.
                    body.Headers.TryAddWithoutValidation("Content-Range", string.Create(CultureInfo.InvariantCulture, $"{first}-{first + count - 1}"));
                    return body;
                }, retry: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (patch.StatusCode != HttpStatusCode.Accepted)
            {
                throw await RegistryErrors.ToExceptionAsync(patch.Message, what, repository.Registry, repository.Repository, descriptor.Digest, cancellationToken).ConfigureAwait(false);
            }
            location = UploadLocation(patch, what, repository);
            offset += count;
        }
        if (offset != descriptor.Size)
        {
            throw new RegistryException($"{what}: the content has {offset} bytes, the descriptor says {descriptor.Size}", repository.Registry, repository.Repository, digest: descriptor.Digest);
        }
        return location;
    }

    private RegistryEndpoint PushEndpoint(ImageReference reference) => Endpoints(reference.Registry, HostCapabilities.Push)[0];

    private static Uri UploadLocation(RegistryResponse response, string what, ImageReference repository) =>
        response.Message.Headers.Location is { } location
            ? location.IsAbsoluteUri ? location : new Uri(response.FinalUri, location)
            : throw new RegistryException($"{what} in {repository.Name}: the registry gave no upload Location", repository.Registry, repository.Repository, response.StatusCode);

    private static Uri WithQuery(Uri uri, string parameter) =>
        new(uri.AbsoluteUri + (string.IsNullOrEmpty(uri.Query) ? "?" : "&") + parameter);

    private static StreamContent Sized(Stream stream, Descriptor descriptor, ImageReference repository)
    {
        if (stream.CanSeek && stream.Length - stream.Position != descriptor.Size)
        {
            var length = stream.Length - stream.Position;
            stream.Dispose();
            throw new RegistryException($"blob upload {descriptor.Digest} to {repository.Name}: the content has {length} bytes, the descriptor says {descriptor.Size}",
                repository.Registry, repository.Repository, digest: descriptor.Digest);
        }
        var content = new StreamContent(stream);
        content.Headers.ContentLength = descriptor.Size;
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    private static void CheckServedDigest(RegistryResponse response, Digest expected, string what, ImageReference reference)
    {
        if (response.Message.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var served) && served != expected)
        {
            throw new DigestMismatchException($"{what} in {reference.Name} (Docker-Content-Digest)", expected, served);
        }
    }
}
