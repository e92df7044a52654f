using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Snapshotter.Oci;
using Snapshotter.Registry.Hosts;
using Snapshotter.Registry.Http;

namespace Snapshotter.Registry.Blobs;

/// <summary>
/// Ranged reads of one blob, as stargz-snapshotter's resolver does them: the blob URL is resolved
/// once (following the registry's redirect to blob storage, whose final URL is kept and is sent no
/// credentials); several ranges go in one <c>Range: bytes=a-b,c-d</c> request; a 200 answer (the
/// whole blob), a single 206 and a <c>multipart/byteranges</c> 206 are all accepted; HTTP 400 to a
/// multi-range request switches the blob to single ranges; HTTP 403 from a kept storage URL
/// re-resolves it once (an expired presigned URL); a body cut short is resumed from the first
/// missing byte; a failing mirror gives way to the next host.
/// </summary>
internal sealed class RangedBlob : IRangedBlob
{
    private const int SingleRangeParallelism = 4;
    private readonly RegistryTransport _transport;
    private readonly IReadOnlyList<RegistryEndpoint> _endpoints;
    private readonly string _repository;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private int _endpointIndex;
    private Uri? _location;
    private volatile bool _singleRange;
    private long _answeredAt = long.MinValue; // TimeProvider timestamp of the last complete answer

    public RangedBlob(RegistryTransport transport, IReadOnlyList<RegistryEndpoint> endpoints, string repository, Descriptor descriptor, ILogger logger)
    {
        if (endpoints.Count == 0)
        {
            throw new ArgumentException("no endpoint can pull", nameof(endpoints));
        }
        _transport = transport;
        _endpoints = endpoints;
        _repository = repository;
        _logger = logger;
        Descriptor = descriptor;
    }

    public Descriptor Descriptor { get; }

    public Digest Digest => Descriptor.Digest;

    public long Size => Descriptor.Size;

    /// <summary>Whether the blob is in single-range mode (the server refused a multi-range request).</summary>
    internal bool SingleRangeOnly => _singleRange;

    /// <summary>The kept storage URL after a redirect, if any.</summary>
    internal Uri? Location
    {
        get
        {
            lock (_lock)
            {
                return _location;
            }
        }
    }

    public Task ReadAsync(IReadOnlyList<BlobRange> ranges, CancellationToken cancellationToken = default) => ReadAsync(ranges, null, cancellationToken);

    public async Task ReadAsync(IReadOnlyList<BlobRange> ranges, Action<BlobRange, int>? filled, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        foreach (var range in ranges)
        {
            if (range.Offset < 0 || range.End > Size)
            {
                throw new ArgumentOutOfRangeException(nameof(ranges), $"range [{range.Offset}, {range.End}) is outside blob {Digest} of {Size} bytes");
            }
        }
        var assembler = new RangeAssembler(ranges, filled);
        var failures = 0;
        var reResolved = 0;
        while (!assembler.IsComplete)
        {
            try
            {
                var pending = assembler.Pending();
                if (pending.Count > 1 && _singleRange)
                {
                    await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = SingleRangeParallelism, CancellationToken = cancellationToken },
                        async (span, token) =>
                        {
                            if (await FetchAsync([span], assembler, allowReResolve: Volatile.Read(ref reResolved) == 0, token).ConfigureAwait(false) == Outcome.ReResolved)
                            {
                                Interlocked.Exchange(ref reResolved, 1);
                            }
                        }).ConfigureAwait(false);
                }
                else
                {
                    if (await FetchAsync(pending, assembler, allowReResolve: reResolved == 0, cancellationToken).ConfigureAwait(false) == Outcome.ReResolved)
                    {
                        reResolved = 1;
                    }
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                if (assembler.IsComplete)
                {
                    break;
                }
                if (++failures > _transport.Options.MaxRetries)
                {
                    throw new RegistryException($"blob {Digest} in {_endpoints[0].Registry}/{_repository}: reading ranges failed {failures} times, last: {_transport.Describe(e)}",
                        _endpoints[0].Registry, _repository, digest: Digest, innerException: e);
                }
                Log.Resuming(_logger, Digest.Value, _transport.Describe(e), assembler.Missing);
                await Task.Delay(_transport.Backoff(failures - 1), _transport.Time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reachable if it answered within <see cref="RegistryClientOptions.BlobCheckInterval"/>; else a two-byte read.</summary>
    public async Task CheckAsync(CancellationToken cancellationToken = default)
    {
        var answeredAt = Interlocked.Read(ref _answeredAt);
        if (answeredAt != long.MinValue && _transport.Time.GetElapsedTime(answeredAt) < _transport.Options.BlobCheckInterval)
        {
            return;
        }
        var probe = new BlobRange(0, new byte[Math.Min(2, Size)]);
        try
        {
            await ReadAsync([probe], cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException)
        {
            lock (_lock)
            {
                _location = null;
                _endpointIndex = 0;
            }
            await ReadAsync([probe], cancellationToken).ConfigureAwait(false);
        }
    }

    private enum Outcome
    {
        Done,
        SingleRange,
        ReResolved,
        NextEndpoint,
    }

    private async Task<Outcome> FetchAsync(List<(long Start, long End)> spans, RangeAssembler assembler, bool allowReResolve, CancellationToken cancellationToken)
    {
        RegistryEndpoint endpoint;
        Uri? location;
        int endpointIndex;
        lock (_lock)
        {
            endpointIndex = _endpointIndex;
            endpoint = _endpoints[endpointIndex];
            location = _location;
        }
        var registryUri = endpoint.Url(_repository, "blobs", Digest.Value);
        var range = new RangeHeaderValue();
        foreach (var (start, end) in spans)
        {
            range.Ranges.Add(new RangeItemHeaderValue(start, end - 1));
        }
        RegistryResponse response;
        try
        {
            response = await _transport.SendAsync(new RegistryRequest
            {
                Endpoint = endpoint,
                Repository = _repository,
                Method = HttpMethod.Get,
                Uri = location ?? registryUri,
                What = $"blob {Digest}",
                Scope = $"repository:{_repository}:pull",
                Range = range,
                FollowRedirects = true,
                Digest = Digest,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e) when (endpointIndex + 1 < _endpoints.Count)
        {
            return NextEndpoint(endpointIndex, e.Message);
        }
        using (response)
        {
            var status = response.StatusCode;
            if (status == HttpStatusCode.Forbidden && location is not null && allowReResolve)
            {
                Log.BlobLocationExpired(_logger, Digest.Value);
                lock (_lock)
                {
                    _location = null;
                }
                return Outcome.ReResolved;
            }
            if (status == HttpStatusCode.BadRequest && spans.Count > 1)
            {
                Log.SingleRangeMode(_logger, Digest.Value, status);
                _singleRange = true;
                return Outcome.SingleRange;
            }
            if (status is not (HttpStatusCode.OK or HttpStatusCode.PartialContent))
            {
                if (endpointIndex + 1 < _endpoints.Count && location is null)
                {
                    return NextEndpoint(endpointIndex, $"HTTP {(int)status}");
                }
                throw await RegistryErrors.ToExceptionAsync(response.Message, $"blob {Digest}", endpoint.Registry, _repository, Digest, cancellationToken).ConfigureAwait(false);
            }
            if (location is null)
            {
                Remember(endpointIndex, registryUri, response.FinalUri);
            }
            await CopyBodyAsync(response, spans, assembler).ConfigureAwait(false);
            Interlocked.Exchange(ref _answeredAt, _transport.Time.GetTimestamp());
            return Outcome.Done;
        }
    }

    private Outcome NextEndpoint(int failedIndex, string reason)
    {
        Log.EndpointFailed(_logger, $"blob {Digest}", _endpoints[failedIndex].ToString(), reason);
        lock (_lock)
        {
            if (_endpointIndex == failedIndex)
            {
                _endpointIndex++;
                _location = null;
            }
        }
        return Outcome.NextEndpoint;
    }

    private void Remember(int endpointIndex, Uri registryUri, Uri finalUri)
    {
        // Same place (perhaps over plain http after the loopback fallback): not a redirect.
        if (string.Equals(finalUri.Authority, registryUri.Authority, StringComparison.OrdinalIgnoreCase) && finalUri.PathAndQuery == registryUri.PathAndQuery)
        {
            return;
        }
        Log.BlobRedirected(_logger, Digest.Value, finalUri.GetLeftPart(UriPartial.Path));
        lock (_lock)
        {
            if (_endpointIndex == endpointIndex)
            {
                _location = finalUri;
            }
        }
    }

    private async Task CopyBodyAsync(RegistryResponse response, List<(long Start, long End)> spans, RangeAssembler assembler)
    {
        var timeout = _transport.Options.RequestTimeout;
        var content = response.Message.Content;
        await using var stream = await content.ReadAsStreamAsync(response.Token).ConfigureAwait(false);
        using var reader = new BodyReader(stream, () => response.Progress(timeout), response.Token);
        void Sink(long position, ReadOnlyMemory<byte> data) => assembler.Accept(position, data.Span);

        if (response.StatusCode == HttpStatusCode.OK)
        {
            // The whole blob (a server that ignores Range, or one that prefers to send it all).
            if (content.Headers.ContentLength is { } length && length != Size)
            {
                throw SizeMismatch($"a whole-blob answer of {length} bytes");
            }
            var reached = await reader.CopyToEndAsync(0, spans[^1].End, Sink).ConfigureAwait(false);
            if (reached < spans[^1].End)
            {
                throw new EndOfStreamException($"the whole-blob answer ended at byte {reached}");
            }
            return;
        }
        var contentType = content.Headers.ContentType;
        if (contentType?.MediaType?.Equals("multipart/byteranges", StringComparison.OrdinalIgnoreCase) == true)
        {
            var boundary = contentType.Parameters.FirstOrDefault(p => p.Name.Equals("boundary", StringComparison.OrdinalIgnoreCase))?.Value?.Trim('"');
            if (string.IsNullOrEmpty(boundary))
            {
                throw new RegistryException($"blob {Digest}: a multipart/byteranges answer without a boundary", _endpoints[0].Registry, _repository, HttpStatusCode.PartialContent, digest: Digest);
            }
            try
            {
                await MultipartByteRanges.ReadAsync(reader, boundary, CheckRange, Sink).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                throw new RegistryException($"blob {Digest}: malformed multipart/byteranges answer from {response.FinalUri.Authority}: {e.Message}", _endpoints[0].Registry, _repository, HttpStatusCode.PartialContent, digest: Digest, innerException: e);
            }
            return;
        }
        ContentRange single;
        try
        {
            single = content.Headers.ContentRange is { From: { } from, To: { } to } header
                ? new ContentRange(from, to, header.Length)
                : throw new InvalidDataException("a 206 answer without Content-Range");
        }
        catch (InvalidDataException e)
        {
            throw new RegistryException($"blob {Digest}: {e.Message} from {response.FinalUri.Authority}", _endpoints[0].Registry, _repository, HttpStatusCode.PartialContent, digest: Digest, innerException: e);
        }
        CheckRange(single);
        await reader.CopyExactAsync(single.Length, single.First, Sink).ConfigureAwait(false);
    }

    private void CheckRange(ContentRange range)
    {
        if (range.Total is { } total && total != Size)
        {
            throw SizeMismatch($"Content-Range total {total}");
        }
        if (range.Last >= Size)
        {
            throw SizeMismatch($"a range ending at byte {range.Last}");
        }
    }

    private RegistryException SizeMismatch(string what) =>
        new($"blob {Digest} in {_endpoints[0].Registry}/{_repository}: the server sent {what}, but the descriptor says {Size} bytes",
            _endpoints[0].Registry, _repository, digest: Digest);
}
