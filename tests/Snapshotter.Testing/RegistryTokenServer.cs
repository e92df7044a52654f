using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Snapshotter.Testing;

/// <summary>
/// A Docker registry token server (the <c>realm</c> of a Bearer challenge) on 127.0.0.1, for
/// docker-registry's <c>auth.token</c>. It signs ES256 JWTs whose <c>x5c</c> header carries its
/// certificate, which the registry trusts through <c>rootcertbundle</c>. It grants every scope
/// asked for to a client with the right Basic credentials (or to anyone when none are configured),
/// and answers the OAuth2 POST form (password and refresh_token grants) like Docker Hub does.
/// </summary>
public sealed class RegistryTokenServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly X509Certificate2 _signingCertificate;
    private readonly ECDsa _signingKey;
    private readonly Task _loop;
    private readonly ConcurrentQueue<string> _requests = new();
    private int _issued;

    public RegistryTokenServer(string service, string issuer, string? username = null, string? password = null, string? refreshToken = null)
    {
        Service = service;
        Issuer = issuer;
        Username = username;
        Password = password;
        RefreshToken = refreshToken;
        _signingKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=snapshotter test token signer", _signingKey, HashAlgorithmName.SHA256);
        var now = DateTimeOffset.UtcNow;
        _signingCertificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public string Service { get; }

    public string Issuer { get; }

    public string? Username { get; }

    public string? Password { get; }

    /// <summary>The refresh (identity) token accepted by the POST form's refresh_token grant.</summary>
    public string? RefreshToken { get; }

    public int Port { get; }

    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>The <c>expires_in</c> given with each token, in seconds.</summary>
    public int ExpiresInSeconds { get; set; } = 300;

    /// <summary>How many tokens were handed out.</summary>
    public int Issued => Volatile.Read(ref _issued);

    /// <summary>Each request as <c>METHOD query-or-form</c>, oldest first.</summary>
    public IReadOnlyCollection<string> Requests => _requests;

    /// <summary>Writes the signing certificate as PEM (the registry's <c>rootcertbundle</c>).</summary>
    public void WriteRootCertificateBundle(string path) => File.WriteAllText(path, _signingCertificate.ExportCertificatePem());

    public async ValueTask DisposeAsync()
    {
        // Close alone: on Unix, Stop and then Close each unregister the prefix, and the second
        // one binds the port anew to find its endpoint, which fails once another test holds it.
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (HttpListenerException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _signingKey.Dispose();
        _signingCertificate.Dispose();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var request = context.Request;
            string? scopeText;
            string? error;
            if (request.HttpMethod == "POST")
            {
                using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
                var form = System.Web.HttpUtility.ParseQueryString(await reader.ReadToEndAsync());
                _requests.Enqueue("POST " + form);
                scopeText = form["scope"];
                error = form["grant_type"] switch
                {
                    "refresh_token" => RefreshToken is not null && form["refresh_token"] == RefreshToken ? null : "invalid refresh token",
                    "password" => Authorized(form["username"], form["password"]) ? null : "invalid username or password",
                    var other => $"unsupported grant_type '{other}'",
                };
            }
            else
            {
                _requests.Enqueue("GET " + request.Url!.Query);
                scopeText = string.Join(' ', request.QueryString.GetValues("scope") ?? []);
                var (user, pass) = BasicCredentials(request.Headers["Authorization"]);
                error = Authorized(user, pass) ? null : "invalid username or password";
            }
            if (error is not null)
            {
                response.StatusCode = 401;
                await WriteJsonAsync(response, new JsonObject { ["errors"] = new JsonArray(new JsonObject { ["code"] = "UNAUTHORIZED", ["message"] = error }) });
                return;
            }
            var token = Sign(scopeText ?? "");
            Interlocked.Increment(ref _issued);
            var body = new JsonObject
            {
                ["token"] = token,
                ["access_token"] = token,
                ["expires_in"] = ExpiresInSeconds,
                ["issued_at"] = DateTimeOffset.UtcNow.ToString("O"),
            };
            await WriteJsonAsync(response, body);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away.
        }
        finally
        {
            response.Close();
        }
    }

    private bool Authorized(string? user, string? pass) =>
        Username is null || (user == Username && pass == Password);

    private static (string? User, string? Password) BasicCredentials(string? header)
    {
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return (null, null);
        }
        var text = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? (text, null) : (text[..colon], text[(colon + 1)..]);
    }

    private string Sign(string scopes)
    {
        var access = new JsonArray();
        foreach (var scope in scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            // repository:name:pull,push (the name may itself hold colons only for a port, which repositories do not).
            var parts = scope.Split(':');
            if (parts.Length < 3)
            {
                continue;
            }
            var actions = parts[^1].Split(',', StringSplitOptions.RemoveEmptyEntries);
            access.Add(new JsonObject
            {
                ["type"] = parts[0],
                ["name"] = string.Join(':', parts[1..^1]),
                ["actions"] = new JsonArray(actions.Select(a => (JsonNode?)a).ToArray()),
            });
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new JsonObject
        {
            ["typ"] = "JWT",
            ["alg"] = "ES256",
            ["x5c"] = new JsonArray(Convert.ToBase64String(_signingCertificate.RawData)),
        };
        var claims = new JsonObject
        {
            ["iss"] = Issuer,
            ["sub"] = Username ?? "anonymous",
            ["aud"] = Service,
            ["exp"] = now + ExpiresInSeconds,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        var signingInput = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var signature = _signingKey.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256);
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static async Task WriteJsonAsync(HttpListenerResponse response, JsonNode body)
    {
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
    }
}

/// <summary>Free TCP ports on the loopback interface.</summary>
public static class FreePort
{
    /// <summary>A port that was free a moment ago (the OS picks it; a race with another binder is possible but rare).</summary>
    public static int Next()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        var port = ((IPEndPoint)socket.LocalEndpoint).Port;
        socket.Stop();
        return port;
    }
}
