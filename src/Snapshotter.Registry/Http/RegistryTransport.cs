using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Snapshotter.Oci;
using Snapshotter.Registry.Auth;
using Snapshotter.Registry.Hosts;

namespace Snapshotter.Registry.Http;

/// <summary>One request to a registry endpoint, as the transport needs to send (and resend) it.</summary>
internal sealed record RegistryRequest
{
    public required RegistryEndpoint Endpoint { get; init; }

    public required string Repository { get; init; }

    public required HttpMethod Method { get; init; }

    public required Uri Uri { get; init; }

    /// <summary>What the request is about, for messages: "manifest latest", "blob sha256:…".</summary>
    public required string What { get; init; }

    /// <summary>Token scope: <c>repository:&lt;repo&gt;:pull</c> and any more, space separated.</summary>
    public required string Scope { get; init; }

    public IReadOnlyList<string> Accept { get; init; } = [];

    public RangeHeaderValue? Range { get; init; }

    /// <summary>Makes the body afresh for each attempt.</summary>
    public Func<HttpContent>? Content { get; init; }

    public bool FollowRedirects { get; init; }

    /// <summary>Whether a transient failure is retried (not for requests that cannot be repeated).</summary>
    public bool Retry { get; init; } = true;

    public Digest? Digest { get; init; }
}

/// <summary>
/// Sends registry requests: a pooled <see cref="SocketsHttpHandler"/> per TLS configuration
/// (HTTP/2 when the server offers it), a bound on requests in flight per host, authorization
/// (<see cref="Authenticator"/>), manual redirects that never carry credentials to another host,
/// a per-request idle timeout, and retries with jittered exponential backoff.
/// </summary>
internal sealed class RegistryTransport : IDisposable
{
    private const int MaxRedirects = 5;
    private readonly RegistryClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);
    private readonly Lock _clientsLock = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _limits = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _plainHttp = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _tlsSpoken = new(StringComparer.OrdinalIgnoreCase);

    public RegistryTransport(RegistryClientOptions options, ICredentialSource credentials, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        Authenticator = new Authenticator(credentials, (realm, endpoint) =>
            string.Equals(realm.Authority, endpoint.BaseUri.Authority, StringComparison.OrdinalIgnoreCase) ? Client(endpoint) : DefaultClient,
            options, time, logger);
    }

    public Authenticator Authenticator { get; }

    public TimeProvider Time => _time;

    public RegistryClientOptions Options => _options;

    private HttpMessageInvoker DefaultClient => Client(null);

    /// <summary>The endpoint as it is reached now (plain http once an https attempt found a plain-http server).</summary>
    public RegistryEndpoint Effective(RegistryEndpoint endpoint) =>
        endpoint.HttpFallback && _plainHttp.ContainsKey(endpoint.Authority) ? endpoint.AsPlainHttp() : endpoint;

    /// <summary>Sends with retries; the answer owns a slot of the host's request bound until disposed.</summary>
    public async Task<RegistryResponse> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var limit = _limits.GetOrAdd(request.Endpoint.Authority, _ => new SemaphoreSlim(_options.MaxConcurrentRequestsPerHost));
            await limit.WaitAsync(cancellationToken).ConfigureAwait(false);
            var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
            var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            HttpResponseMessage response;
            Uri finalUri;
            string reason;
            Exception? failure = null;
            try
            {
                (response, finalUri) = await SendOnceAsync(request, linked.Token).ConfigureAwait(false);
                if (!HttpStatus.IsTransient(response.StatusCode) || !request.Retry || attempt >= _options.MaxRetries)
                {
                    return new RegistryResponse(response, finalUri, request, limit, timeout, linked);
                }
                reason = $"HTTP {(int)response.StatusCode}";
                response.Dispose();
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                failure = e;
                reason = Describe(e);
            }
            catch (HttpRequestException e)
            {
                Release(limit, timeout, linked);
                throw new RegistryException($"{request.What} in {request.Endpoint.Registry}/{request.Repository}: {request.Endpoint.Authority}: {Describe(e)}",
                    request.Endpoint.Registry, request.Repository, digest: request.Digest, innerException: e);
            }
            catch
            {
                Release(limit, timeout, linked);
                throw;
            }
            Release(limit, timeout, linked);
            if (failure is not null && (!request.Retry || attempt >= _options.MaxRetries))
            {
                throw new RegistryException($"{request.What} in {request.Endpoint.Registry}/{request.Repository}: {request.Endpoint.Authority} failed after {attempt + 1} attempt(s): {reason}",
                    request.Endpoint.Registry, request.Repository, digest: request.Digest, innerException: failure);
            }
            var delay = Backoff(attempt);
            Log.Retrying(_logger, request.What, attempt + 1, reason, delay);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Jittered exponential backoff: between half and all of min(max, min·2^attempt).</summary>
    public TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(_options.MaxRetryDelay.TotalMilliseconds, _options.MinRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        var jitter = 0.5 + (RandomNumberGenerator.GetInt32(1000) / 2000.0);
        return TimeSpan.FromMilliseconds(ceiling * jitter);
    }

    /// <summary>Connection errors and timeouts (not the caller's cancellation, not local limits) are worth a retry.</summary>
    public static bool IsTransient(Exception e, CancellationToken callerToken) => e switch
    {
        OperationCanceledException => !callerToken.IsCancellationRequested,
        HttpRequestException { HttpRequestError: HttpRequestError.ConfigurationLimitExceeded or HttpRequestError.SecureConnectionError } => false,
        HttpRequestException => true,
        IOException => true,
        _ => false,
    };

    public string Describe(Exception e) => e switch
    {
        OperationCanceledException => $"no progress within {_options.RequestTimeout.TotalSeconds:0.###} s",
        HttpRequestException { InnerException: { } inner } http => $"{http.Message} ({inner.Message})",
        _ => e.Message,
    };

    public void Dispose()
    {
        lock (_clientsLock)
        {
            foreach (var client in _clients.Values)
            {
                client.Dispose();
            }
            _clients.Clear();
        }
    }

    private static void Release(SemaphoreSlim limit, CancellationTokenSource timeout, CancellationTokenSource linked)
    {
        linked.Dispose();
        timeout.Dispose();
        limit.Release();
    }

    private async Task<(HttpResponseMessage Response, Uri FinalUri)> SendOnceAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        var endpoint = Effective(request.Endpoint);
        var uri = endpoint == request.Endpoint ? request.Uri : new UriBuilder(request.Uri) { Scheme = Uri.UriSchemeHttp, Port = request.Uri.Port }.Uri;
        var authRetried = false;
        for (var redirects = 0; ; )
        {
            var toRegistry = string.Equals(uri.Authority, endpoint.BaseUri.Authority, StringComparison.OrdinalIgnoreCase);
            using var message = new HttpRequestMessage(request.Method, uri)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            };
            message.Headers.UserAgent.ParseAdd(_options.UserAgent);
            foreach (var accept in request.Accept)
            {
                message.Headers.Accept.ParseAdd(accept);
            }
            message.Headers.Range = request.Range;
            AuthenticationHeaderValue? authorization = null;
            if (toRegistry)
            {
                foreach (var (name, values) in endpoint.Headers)
                {
                    message.Headers.TryAddWithoutValidation(name, values);
                }
                authorization = await Authenticator.AuthorizationAsync(endpoint, request.Scope, cancellationToken).ConfigureAwait(false);
                message.Headers.Authorization = authorization;
            }
            if (request.Content is not null && redirects == 0)
            {
                message.Content = request.Content();
            }

            HttpResponseMessage response;
            try
            {
                response = await Client(toRegistry ? endpoint : null).SendAsync(message, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (toRegistry && endpoint.HttpFallback && uri.Scheme == Uri.UriSchemeHttps && IsNotTls(e) && !_tlsSpoken.ContainsKey(endpoint.Authority))
            {
                // An https attempt to a loopback registry that speaks plain http (containerd's HTTP fallback).
                Log.PlainHttpFallback(_logger, endpoint.Authority);
                _plainHttp[endpoint.Authority] = true;
                endpoint = endpoint.AsPlainHttp();
                uri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttp, Port = uri.Port }.Uri;
                continue;
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && toRegistry && !authRetried &&
                await Authenticator.OnUnauthorizedAsync(endpoint, request.Scope, response, authorization, cancellationToken).ConfigureAwait(false))
            {
                authRetried = true;
                response.Dispose();
                continue;
            }
            if (request.FollowRedirects && HttpStatus.IsRedirect(response.StatusCode) && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (++redirects > MaxRedirects)
                {
                    throw new RegistryException($"{request.What} in {request.Endpoint.Registry}/{request.Repository}: more than {MaxRedirects} redirects from {uri.Authority}",
                        request.Endpoint.Registry, request.Repository, digest: request.Digest);
                }
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                continue;
            }
            return (response, uri);
        }
    }

    private static bool IsNotTls(HttpRequestException e) =>
        e.HttpRequestError == HttpRequestError.SecureConnectionError || e.InnerException is AuthenticationException;

    private HttpMessageInvoker Client(RegistryEndpoint? endpoint)
    {
        var key = endpoint?.TlsKey ?? "";
        lock (_clientsLock)
        {
            if (!_clients.TryGetValue(key, out var client))
            {
                client = new HttpMessageInvoker(CreateHandler(endpoint), disposeHandler: true);
                _clients[key] = client;
            }
            return client;
        }
    }

    private SocketsHttpHandler CreateHandler(RegistryEndpoint? endpoint)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            MaxConnectionsPerServer = _options.MaxConcurrentRequestsPerHost,
            EnableMultipleHttp2Connections = true,
            MaxResponseHeadersLength = 64,
            ResponseDrainTimeout = TimeSpan.FromSeconds(1),
        };
        if (endpoint is null)
        {
            return handler;
        }
        if (endpoint.ClientCertificates.Count > 0)
        {
            handler.SslOptions.ClientCertificates = [.. endpoint.ClientCertificates.Select(LoadClientCertificate)];
        }
        Func<X509Certificate?, X509Chain?, SslPolicyErrors, bool> validate = (_, _, errors) => errors == SslPolicyErrors.None;
        if (endpoint.SkipVerify)
        {
            // skip_verify is the operator's explicit choice in hosts.toml, as in containerd.
            validate = (_, _, _) => true;
        }
        else if (endpoint.CaFiles.Count > 0)
        {
            var authorities = new X509Certificate2Collection();
            foreach (var file in endpoint.CaFiles)
            {
                try
                {
                    authorities.ImportFromPemFile(file);
                }
                catch (Exception e) when (e is IOException or CryptographicException)
                {
                    throw new RegistryException($"{endpoint.Registry}: cannot read the CA file {file} named in hosts.toml: {e.Message}", e);
                }
            }
            validate = (certificate, chain, errors) =>
                errors == SslPolicyErrors.None || (errors == SslPolicyErrors.RemoteCertificateChainErrors && certificate is X509Certificate2 leaf && ChainsTo(leaf, chain, authorities));
        }
        if (endpoint.SkipVerify || endpoint.CaFiles.Count > 0 || endpoint.HttpFallback)
        {
            var authority = endpoint.Authority;
            var fallback = endpoint.HttpFallback;
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (fallback)
                {
                    // The server speaks TLS: a handshake failure is a certificate problem, not a reason for plain http.
                    _tlsSpoken[authority] = true;
                }
                return validate(certificate, chain, errors);
            };
        }
        return handler;
    }

    /// <summary>The hosts.toml CAs are trusted in addition to the system's, as containerd does.</summary>
    private static bool ChainsTo(X509Certificate2 leaf, X509Chain? presented, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        return chain.Build(leaf);
    }

    private static X509Certificate2 LoadClientCertificate(ClientCertificateFiles files)
    {
        try
        {
            return files.Key is null
                ? X509Certificate2.CreateFromPemFile(files.Certificate)
                : X509Certificate2.CreateFromPemFile(files.Certificate, files.Key);
        }
        catch (Exception e) when (e is IOException or CryptographicException)
        {
            throw new RegistryException($"cannot load the client certificate {files.Certificate} (key {files.Key ?? "in the same file"}) named in hosts.toml: {e.Message}", e);
        }
    }
}

/// <summary>An answer with the request slot, timeout and cancellation it holds until disposed.</summary>
internal sealed class RegistryResponse : IDisposable
{
    private readonly SemaphoreSlim _limit;
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationTokenSource _linked;
    private int _disposed;

    public RegistryResponse(HttpResponseMessage message, Uri finalUri, RegistryRequest request, SemaphoreSlim limit, CancellationTokenSource timeout, CancellationTokenSource linked)
    {
        Message = message;
        FinalUri = finalUri;
        Request = request;
        _limit = limit;
        _timeout = timeout;
        _linked = linked;
    }

    public HttpResponseMessage Message { get; }

    /// <summary>Where the answer came from after redirects.</summary>
    public Uri FinalUri { get; }

    public RegistryRequest Request { get; }

    public HttpStatusCode StatusCode => Message.StatusCode;

    /// <summary>Cancelled by the caller or when no progress is made within the request timeout.</summary>
    public CancellationToken Token => _linked.Token;

    /// <summary>Restarts the idle timeout after progress (a body read).</summary>
    public void Progress(TimeSpan timeout) => _timeout.CancelAfter(timeout);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Message.Dispose();
        _linked.Dispose();
        _timeout.Dispose();
        _limit.Release();
    }
}
