using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Snapshotter.Registry.Hosts;

namespace Snapshotter.Registry.Auth;

/// <summary>
/// Authorization per registry host, as containerd's docker authorizer does it: requests go
/// anonymous until a 401 brings a challenge; Basic then sends the host's credentials; Bearer fetches
/// a token from the challenge's realm for (service, scope) — with an OAuth2 POST when there are
/// credentials (refresh_token grant for an identity token, password grant otherwise, falling back to
/// GET), and GET with Basic credentials or anonymously otherwise. Tokens are cached until shortly
/// before they expire, fetched once for concurrent requests, and dropped on a 401.
/// </summary>
internal sealed class Authenticator(
    ICredentialSource credentials,
    Func<Uri, RegistryEndpoint, HttpMessageInvoker> clientFor,
    RegistryClientOptions options,
    TimeProvider time,
    ILogger logger)
{
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Authority, string Scope), CachedToken> _tokens = new();
    private readonly ConcurrentDictionary<(string Authority, string Scope), SemaphoreSlim> _fetching = new();

    /// <summary>The Authorization header for a request to <paramref name="endpoint"/>, or null to go anonymous.</summary>
    public async ValueTask<AuthenticationHeaderValue?> AuthorizationAsync(RegistryEndpoint endpoint, string scope, CancellationToken cancellationToken)
    {
        if (!_challenges.TryGetValue(endpoint.Authority, out var challenge))
        {
            return null;
        }
        if (challenge.Scheme == AuthScheme.Basic)
        {
            var credential = await credentials.GetAsync(endpoint.Authority, cancellationToken).ConfigureAwait(false);
            return credential is null || credential.IsIdentityToken ? null : Basic(credential);
        }
        var token = await TokenAsync(endpoint, challenge, scope, cancellationToken).ConfigureAwait(false);
        return new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>
    /// Learns from a 401: remembers the challenge and drops a rejected token. True when a second
    /// attempt can do better (a new token, or credentials not sent yet).
    /// </summary>
    public async ValueTask<bool> OnUnauthorizedAsync(RegistryEndpoint endpoint, string scope, HttpResponseMessage response, AuthenticationHeaderValue? sent, CancellationToken cancellationToken)
    {
        var challenge = AuthChallenge.From(response.Headers.WwwAuthenticate);
        if (challenge is null)
        {
            return false;
        }
        _challenges[endpoint.Authority] = challenge;
        if (challenge.Scheme == AuthScheme.Bearer)
        {
            if (sent?.Scheme == "Bearer")
            {
                _tokens.TryRemove((endpoint.Authority, TokenScope(challenge, scope)), out _);
            }
            return true;
        }
        if (sent?.Scheme == "Basic")
        {
            return false;
        }
        var credential = await credentials.GetAsync(endpoint.Authority, cancellationToken).ConfigureAwait(false);
        return credential is { IsIdentityToken: false };
    }

    private async ValueTask<string> TokenAsync(RegistryEndpoint endpoint, AuthChallenge challenge, string scope, CancellationToken cancellationToken)
    {
        var key = (endpoint.Authority, TokenScope(challenge, scope));
        if (_tokens.TryGetValue(key, out var cached) && cached.IsFresh(time.GetUtcNow()))
        {
            return cached.Token;
        }
        var gate = _fetching.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(key, out cached) && cached.IsFresh(time.GetUtcNow()))
            {
                return cached.Token;
            }
            var fetched = await FetchTokenAsync(endpoint, challenge, key.Item2, cancellationToken).ConfigureAwait(false);
            _tokens[key] = fetched;
            return fetched.Token;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The scopes asked for: the request's, plus the challenge's own if it names another.</summary>
    private static string TokenScope(AuthChallenge challenge, string scope)
    {
        var scopes = new SortedSet<string>(scope.Split(' ', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(challenge.Scope))
        {
            scopes.UnionWith(challenge.Scope.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        return string.Join(' ', scopes);
    }

    private async Task<CachedToken> FetchTokenAsync(RegistryEndpoint endpoint, AuthChallenge challenge, string scope, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp))
        {
            throw new RegistryException($"{endpoint.Authority} asks for a Bearer token from an invalid realm '{challenge.Realm}'");
        }
        var credential = await credentials.GetAsync(endpoint.Authority, cancellationToken).ConfigureAwait(false);
        var client = clientFor(realm, endpoint);
        var scopes = scope.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        TokenAnswer? answer = null;
        if (credential is not null)
        {
            var form = new List<KeyValuePair<string, string>>
            {
                new("client_id", options.UserAgent),
                new("service", challenge.Service ?? ""),
                new("scope", scope),
            };
            if (credential.IsIdentityToken)
            {
                form.Add(new("grant_type", "refresh_token"));
                form.Add(new("refresh_token", credential.Secret));
            }
            else
            {
                form.Add(new("grant_type", "password"));
                form.Add(new("username", credential.Username ?? ""));
                form.Add(new("password", credential.Secret));
            }
            using var post = new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
            post.Headers.UserAgent.ParseAdd(options.UserAgent);
            using var response = await client.SendAsync(post, cancellationToken).ConfigureAwait(false);
            // Registries without the OAuth2 POST form answer 404/405 (or 401): use GET, as containerd does.
            var fallBack = !credential.IsIdentityToken && response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.Unauthorized;
            if (!fallBack)
            {
                answer = await ReadAnswerAsync(response, endpoint, realm, cancellationToken).ConfigureAwait(false);
            }
        }
        if (answer is null)
        {
            var query = new StringBuilder();
            if (!string.IsNullOrEmpty(challenge.Service))
            {
                query.Append("service=").Append(Uri.EscapeDataString(challenge.Service));
            }
            foreach (var s in scopes)
            {
                query.Append(query.Length == 0 ? "" : "&").Append("scope=").Append(Uri.EscapeDataString(s));
            }
            var uri = new UriBuilder(realm) { Query = string.Join('&', new[] { realm.Query.TrimStart('?'), query.ToString() }.Where(q => q.Length > 0)) }.Uri;
            using var get = new HttpRequestMessage(HttpMethod.Get, uri);
            get.Headers.UserAgent.ParseAdd(options.UserAgent);
            if (credential is { IsIdentityToken: false })
            {
                get.Headers.Authorization = Basic(credential);
            }
            using var response = await client.SendAsync(get, cancellationToken).ConfigureAwait(false);
            answer = await ReadAnswerAsync(response, endpoint, realm, cancellationToken).ConfigureAwait(false);
        }
        var token = answer.Token ?? answer.AccessToken;
        if (string.IsNullOrEmpty(token))
        {
            throw new RegistryException($"the token server {realm.GetLeftPart(UriPartial.Path)} for {endpoint.Authority} answered without a token");
        }
        var lifetime = answer.ExpiresIn is > 0 ? TimeSpan.FromSeconds(answer.ExpiresIn.Value) : DefaultTokenLifetime;
        Log.TokenFetched(logger, endpoint.Authority, scope, lifetime);
        var now = time.GetUtcNow();
        return new CachedToken(token, now, now + lifetime);
    }

    private static async Task<TokenAnswer> ReadAnswerAsync(HttpResponseMessage response, RegistryEndpoint endpoint, Uri realm, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var error = await RegistryErrors.ToExceptionAsync(response, $"token for {endpoint.Authority} from {realm.GetLeftPart(UriPartial.Path)}", endpoint.Registry, null, null, cancellationToken).ConfigureAwait(false);
            throw response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                ? new RegistryException($"authentication to {endpoint.Authority} failed: {error.Message}", endpoint.Registry, null, response.StatusCode, "UNAUTHORIZED")
                : error;
        }
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(body, DockerConfigJsonContext.Default.TokenAnswer)
                ?? throw new RegistryException($"the token server {realm.GetLeftPart(UriPartial.Path)} answered null");
        }
        catch (JsonException e)
        {
            throw new RegistryException($"the token server {realm.GetLeftPart(UriPartial.Path)} answered invalid JSON: {e.Message}", e);
        }
    }

    private static AuthenticationHeaderValue Basic(RegistryCredential credential) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Secret}")));

    private sealed record CachedToken(string Token, DateTimeOffset Issued, DateTimeOffset Expires)
    {
        /// <summary>Fresh until a tenth of its lifetime (at most 10 s) before it expires.</summary>
        public bool IsFresh(DateTimeOffset now)
        {
            var margin = TimeSpan.FromTicks(Math.Min((Expires - Issued).Ticks / 10, TimeSpan.FromSeconds(10).Ticks));
            return now < Expires - margin;
        }
    }
}

internal sealed class TokenAnswer
{
    [JsonPropertyName("token")]
    public string? Token { get; set; }

    [JsonPropertyName("access_token")]
    public string? AccessToken { get; set; }

    [JsonPropertyName("expires_in")]
    public int? ExpiresIn { get; set; }
}
