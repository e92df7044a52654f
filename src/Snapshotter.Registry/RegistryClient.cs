using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Oci;
using Snapshotter.Registry.Auth;
using Snapshotter.Registry.Blobs;
using Snapshotter.Registry.Hosts;
using Snapshotter.Registry.Http;

namespace Snapshotter.Registry;

/// <summary>
/// The OCI distribution client (<see cref="IRegistryClient"/>, <see cref="IRegistryPusher"/>).
/// Thread-safe; keep one per process: it pools connections, tokens and hosts configuration.
/// </summary>
public sealed partial class RegistryClient : IRegistryClient, IRegistryPusher, IDisposable
{
    private readonly RegistryClientOptions _options;
    private readonly HostsConfiguration _hosts;
    private readonly RegistryTransport _transport;
    private readonly ILogger _logger;

    public RegistryClient(RegistryClientOptions? options = null, ILogger<RegistryClient>? logger = null, TimeProvider? timeProvider = null)
    {
        _options = options ?? new RegistryClientOptions();
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _hosts = new HostsConfiguration(_options.HostsDirectory, _options.PlainHttp);
        var sources = new List<ICredentialSource>();
        if (_options.Credentials is { } callback)
        {
            sources.Add(new DelegateCredentialSource(callback));
        }
        if (_options.UseDockerConfig)
        {
            sources.Add(new DockerConfigCredentials(_options.DockerConfigPath ?? DockerConfigCredentials.DefaultPath(), _options.CredentialHelperSearchPath, _logger));
        }
        _transport = new RegistryTransport(_options, new CredentialChain(sources), timeProvider ?? TimeProvider.System, _logger);
    }

    public async Task<ResolvedImage> ResolveAsync(ImageReference reference, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var top = await GetManifestAsync(reference, cancellationToken).ConfigureAwait(false);
        ImageIndex? index = null;
        Descriptor? chosen = null;
        var manifestContent = top;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            index = Parse(reference, top, bytes => ImageIndex.Parse(bytes));
            chosen = index.SelectPlatform(platform);
            manifestContent = await GetManifestAsync(reference.WithDigest(chosen.Digest), cancellationToken).ConfigureAwait(false);
            if (manifestContent.Bytes.Length != chosen.Size)
            {
                throw new RegistryException($"manifest {chosen.Digest} in {reference.Name}: the index says {chosen.Size} bytes, the registry sent {manifestContent.Bytes.Length}",
                    reference.Registry, reference.Repository, digest: chosen.Digest);
            }
            if (!MediaTypes.IsManifest(manifestContent.MediaType))
            {
                throw new RegistryException($"manifest {chosen.Digest} in {reference.Name} is a {manifestContent.MediaType}, not an image manifest",
                    reference.Registry, reference.Repository, digest: chosen.Digest);
            }
        }
        var manifest = Parse(reference, manifestContent, bytes => ImageManifest.Parse(bytes));
        return new ResolvedImage
        {
            Reference = reference.WithDigest(top.Digest),
            Target = top.Descriptor,
            Index = index,
            ManifestDescriptor = chosen ?? manifestContent.Descriptor,
            Manifest = manifest,
            ManifestBytes = manifestContent.Bytes,
            TargetBytes = top.Bytes,
        };
    }

    public Task<ManifestContent> GetManifestAsync(ImageReference reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return AcrossEndpointsAsync(reference, HostCapabilities.Resolve, $"manifest {reference.ManifestReference}",
            endpoint => FetchManifestAsync(endpoint, reference, cancellationToken));
    }

    public async Task<byte[]> GetBlobAsync(ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (descriptor.Size > _options.MaxInMemoryBlobSize)
        {
            throw new RegistryException($"blob {descriptor.Digest} in {repository.Name} is {descriptor.Size} bytes, more than the {_options.MaxInMemoryBlobSize} fetched into memory",
                repository.Registry, repository.Repository, digest: descriptor.Digest);
        }
        using var buffer = new MemoryStream((int)descriptor.Size);
        await CopyBlobAsync(repository, descriptor, buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    public Task CopyBlobAsync(ImageReference repository, Descriptor descriptor, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(destination);
        var start = destination.CanSeek ? destination.Position : -1;
        return AcrossEndpointsAsync(repository, HostCapabilities.Pull, $"blob {descriptor.Digest}", async endpoint =>
        {
            if (start >= 0)
            {
                destination.Position = start;
                destination.SetLength(start);
            }
            await FetchWholeBlobAsync(endpoint, repository, descriptor, destination, cancellationToken).ConfigureAwait(false);
            return true;
        });
    }

    public IRangedBlob OpenBlob(ImageReference repository, Descriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(descriptor);
        return new RangedBlob(_transport, Endpoints(repository.Registry, HostCapabilities.Pull), repository.Repository, descriptor, _logger);
    }

    public void Dispose() => _transport.Dispose();

    /// <summary>The endpoints of a registry that have <paramref name="capability"/>, mirrors first.</summary>
    internal IReadOnlyList<RegistryEndpoint> Endpoints(string registry, HostCapabilities capability)
    {
        var endpoints = _hosts.Endpoints(registry).Where(e => e.Has(capability)).ToList();
        return endpoints.Count > 0
            ? endpoints
            : throw new RegistryException($"no host of {registry} in hosts.toml has the '{capability.ToString().ToLowerInvariant()}' capability", registry, null);
    }

    /// <summary>Tries each endpoint in order; a failure on one that is not the last moves to the next.</summary>
    private async Task<T> AcrossEndpointsAsync<T>(ImageReference reference, HostCapabilities capability, string what, Func<RegistryEndpoint, Task<T>> attempt)
    {
        var endpoints = Endpoints(reference.Registry, capability);
        var failures = new List<string>();
        for (var i = 0; ; i++)
        {
            try
            {
                return await attempt(endpoints[i]).ConfigureAwait(false);
            }
            catch (Exception e) when (i + 1 < endpoints.Count && e is RegistryException or DigestMismatchException)
            {
                failures.Add($"{endpoints[i]}: {e.Message}");
                Log.EndpointFailed(_logger, what, endpoints[i].ToString(), e.Message);
            }
            catch (RegistryException e) when (failures.Count > 0)
            {
                throw new RegistryException($"{e.Message} (after mirrors failed: {string.Join("; ", failures)})",
                    e.Registry ?? reference.Registry, e.Repository, e.StatusCode, e.ErrorCode, e.Digest, e);
            }
        }
    }

    private async Task<ManifestContent> FetchManifestAsync(RegistryEndpoint endpoint, ImageReference reference, CancellationToken cancellationToken)
    {
        var expected = reference.Digest;
        if (expected is null)
        {
            // HEAD first (cheap, and not counted against Docker Hub's pull limit), then GET by digest.
            using var head = await SendAsync(endpoint, reference.Repository, HttpMethod.Head, endpoint.Url(reference.Repository, "manifests", reference.ManifestReference),
                $"manifest {reference.ManifestReference}", accept: MediaTypes.ManifestAccept, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (head.StatusCode == HttpStatusCode.NotFound)
            {
                throw new RegistryException($"manifest {reference.ManifestReference} in {reference.Name}: not found (HTTP 404 from {endpoint.Authority})",
                    reference.Registry, reference.Repository, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
            }
            if (head.StatusCode == HttpStatusCode.OK && head.Message.Headers.TryGetValues("Docker-Content-Digest", out var values) &&
                Digest.TryParse(values.FirstOrDefault(), out var headDigest))
            {
                expected = headDigest;
            }
            else if (head.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw await RegistryErrors.ToExceptionAsync(head.Message, $"manifest {reference.ManifestReference}", reference.Registry, reference.Repository, null, cancellationToken).ConfigureAwait(false);
            }
        }
        var target = expected?.Value ?? reference.ManifestReference;
        using var response = await SendAsync(endpoint, reference.Repository, HttpMethod.Get, endpoint.Url(reference.Repository, "manifests", target),
            $"manifest {target}", accept: MediaTypes.ManifestAccept, digest: expected, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await RegistryErrors.ToExceptionAsync(response.Message, $"manifest {target}", reference.Registry, reference.Repository, expected, cancellationToken).ConfigureAwait(false);
        }
        var bytes = await ReadLimitedAsync(response, _options.MaxManifestSize, $"manifest {target} in {reference.Name}").ConfigureAwait(false);
        var actual = Digest.Compute(bytes);
        if (expected is { } wanted && actual != wanted)
        {
            throw new DigestMismatchException($"manifest {target} from {endpoint.Authority} ({reference.Name})", wanted, actual);
        }
        if (response.Message.Headers.TryGetValues("Docker-Content-Digest", out var served) && Digest.TryParse(served.FirstOrDefault(), out var servedDigest) && servedDigest != actual)
        {
            throw new DigestMismatchException($"manifest {target} from {endpoint.Authority} ({reference.Name}, Docker-Content-Digest)", servedDigest, actual);
        }
        string mediaType;
        try
        {
            mediaType = ManifestKind.Detect(bytes, response.Message.Content.Headers.ContentType?.ToString());
        }
        catch (FormatException e)
        {
            throw new RegistryException($"manifest {target} in {reference.Name} from {endpoint.Authority}: {e.Message}", reference.Registry, reference.Repository, digest: actual, innerException: e);
        }
        if (!MediaTypes.IsManifest(mediaType) && !MediaTypes.IsIndex(mediaType))
        {
            throw new RegistryException($"manifest {target} in {reference.Name} from {endpoint.Authority} has the unsupported media type '{mediaType}' (OCI and Docker schema 2 only)",
                reference.Registry, reference.Repository, digest: actual);
        }
        return new ManifestContent(mediaType, actual, bytes);
    }

    private async Task FetchWholeBlobAsync(RegistryEndpoint endpoint, ImageReference repository, Descriptor descriptor, Stream destination, CancellationToken cancellationToken)
    {
        using var verifier = new DigestVerifier();
        long received = 0;
        var failures = 0;
        var buffer = new byte[81920];
        while (true)
        {
            try
            {
                using var response = await SendAsync(endpoint, repository.Repository, HttpMethod.Get, endpoint.Url(repository.Repository, "blobs", descriptor.Digest.Value),
                    $"blob {descriptor.Digest}", range: received > 0 ? new RangeHeaderValue(received, null) : null, followRedirects: true, digest: descriptor.Digest,
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                var skip = 0L;
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    skip = received;
                }
                else if (response.StatusCode != HttpStatusCode.PartialContent || received == 0 || response.Message.Content.Headers.ContentRange?.From != received)
                {
                    throw await RegistryErrors.ToExceptionAsync(response.Message, $"blob {descriptor.Digest}", repository.Registry, repository.Repository, descriptor.Digest, cancellationToken).ConfigureAwait(false);
                }
                await using var body = await response.Message.Content.ReadAsStreamAsync(response.Token).ConfigureAwait(false);
                int read;
                while ((read = await body.ReadAsync(buffer, response.Token).ConfigureAwait(false)) > 0)
                {
                    response.Progress(_options.RequestTimeout);
                    var chunk = buffer.AsMemory(0, read);
                    if (skip > 0)
                    {
                        var dropped = (int)Math.Min(skip, read);
                        skip -= dropped;
                        chunk = chunk[dropped..];
                    }
                    if (received + chunk.Length > descriptor.Size)
                    {
                        throw new RegistryException($"blob {descriptor.Digest} in {repository.Name}: the registry sent more than the descriptor's {descriptor.Size} bytes",
                            repository.Registry, repository.Repository, digest: descriptor.Digest);
                    }
                    verifier.Append(chunk.Span);
                    await destination.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    received += chunk.Length;
                }
                if (received < descriptor.Size)
                {
                    throw new EndOfStreamException($"the body ended at byte {received} of {descriptor.Size}");
                }
                verifier.Verify(descriptor.Digest, $"blob from {endpoint.Authority} ({repository.Name})");
                return;
            }
            catch (Exception e) when (e is IOException or HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                if (++failures > _options.MaxRetries)
                {
                    throw new RegistryException($"blob {descriptor.Digest} in {repository.Name}: {endpoint.Authority} failed {failures} times, last: {_transport.Describe(e)}",
                        repository.Registry, repository.Repository, digest: descriptor.Digest, innerException: e);
                }
                Log.Resuming(_logger, descriptor.Digest.Value, _transport.Describe(e), descriptor.Size - received);
                await Task.Delay(_transport.Backoff(failures - 1), _transport.Time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private Task<RegistryResponse> SendAsync(RegistryEndpoint endpoint, string repository, HttpMethod method, Uri uri, string what,
        IReadOnlyList<string>? accept = null, RangeHeaderValue? range = null, bool followRedirects = false, Digest? digest = null,
        string actions = "pull", Func<HttpContent>? content = null, bool retry = true, string? extraScope = null, CancellationToken cancellationToken = default) =>
        _transport.SendAsync(new RegistryRequest
        {
            Endpoint = endpoint,
            Repository = repository,
            Method = method,
            Uri = uri,
            What = what,
            Scope = $"repository:{repository}:{actions}" + (extraScope is null ? "" : " " + extraScope),
            Accept = accept ?? [],
            Range = range,
            FollowRedirects = followRedirects,
            Digest = digest,
            Content = content,
            Retry = retry,
        }, cancellationToken);

    private async Task<byte[]> ReadLimitedAsync(RegistryResponse response, long limit, string what)
    {
        if (response.Message.Content.Headers.ContentLength is { } length && length > limit)
        {
            throw new RegistryException($"{what} is {length} bytes, more than the limit of {limit}");
        }
        await using var body = await response.Message.Content.ReadAsStreamAsync(response.Token).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 << 10];
        int read;
        while ((read = await body.ReadAsync(chunk, response.Token).ConfigureAwait(false)) > 0)
        {
            response.Progress(_options.RequestTimeout);
            if (buffer.Length + read > limit)
            {
                throw new RegistryException($"{what} is more than the limit of {limit} bytes");
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static T Parse<T>(ImageReference reference, ManifestContent content, Func<byte[], T> parse)
    {
        try
        {
            return parse(content.Bytes);
        }
        catch (FormatException e)
        {
            throw new RegistryException($"{content.MediaType} {content.Digest} in {reference.Name}: {e.Message}", reference.Registry, reference.Repository, digest: content.Digest, innerException: e);
        }
    }
}
