using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Snapshotter.Testing;

/// <summary>How a <see cref="DockerRegistryFixture"/> asks clients to authenticate.</summary>
public enum RegistryAuth
{
    None,
    /// <summary>htpasswd (bcrypt) Basic auth.</summary>
    Basic,
    /// <summary>Bearer tokens from a <see cref="RegistryTokenServer"/> started with the registry.</summary>
    Token,
}

public sealed record DockerRegistryOptions
{
    public RegistryAuth Auth { get; init; } = RegistryAuth.None;

    /// <summary>Serve HTTPS with a certificate from a CA made for this registry (see <see cref="DockerRegistryFixture.CaCertificatePath"/>).</summary>
    public bool Tls { get; init; }

    /// <summary>With TLS: require a client certificate signed by the fixture's CA (mutual TLS).</summary>
    public bool RequireClientCertificate { get; init; }

    public string Username { get; init; } = "tester";

    public string Password { get; init; } = "s3cret-pass";

    /// <summary>With token auth: the identity (refresh) token the token server accepts.</summary>
    public string? RefreshToken { get; init; }

    /// <summary>With token auth: whether anonymous clients get tokens (pull of public images, as on Docker Hub).</summary>
    public bool AnonymousTokens { get; init; }
}

/// <summary>
/// A real registry (Debian's <c>docker-registry</c>, the CNCF distribution v2) on a free loopback
/// port with its own storage root; optionally with Basic or token auth and TLS. Stopped by PID.
/// </summary>
public sealed class DockerRegistryFixture : IAsyncDisposable
{
    public const string TokenService = "snapshotter-test-registry";
    public const string TokenIssuer = "snapshotter-test-issuer";

    private readonly TempDirectory _directory = new("docker-registry");
    private BackgroundProcess? _process;

    private DockerRegistryFixture(DockerRegistryOptions options) => Options = options;

    public DockerRegistryOptions Options { get; }

    /// <summary><c>127.0.0.1:port</c>: the registry part of image references.</summary>
    public string Host { get; private set; } = "";

    public Uri BaseAddress => new($"{(Options.Tls ? "https" : "http")}://{Host}/");

    public string RootDirectory => _directory.Combine("storage");

    /// <summary>The directory this fixture writes its files to (config, certificates); tests may add their own.</summary>
    public string Directory => _directory.Path;

    public TestCertificateAuthority? CertificateAuthority { get; private set; }

    /// <summary>With TLS: the PEM of the CA that signed the registry's certificate.</summary>
    public string? CaCertificatePath { get; private set; }

    /// <summary>With mutual TLS: a client certificate the registry accepts, and its PEM files.</summary>
    public X509Certificate2? ClientCertificate { get; private set; }

    public string? ClientCertificatePath { get; private set; }

    public string? ClientKeyPath { get; private set; }

    public RegistryTokenServer? TokenServer { get; private set; }

    public string Log => _process?.Output ?? "";

    public int Pid => _process?.Pid ?? 0;

    public static async Task<DockerRegistryFixture> StartAsync(DockerRegistryOptions? options = null)
    {
        var registry = Requirements.Tool("docker-registry", "docker-registry");
        var fixture = new DockerRegistryFixture(options ?? new DockerRegistryOptions());
        try
        {
            await fixture.StartProcessAsync(registry);
            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
    }

    /// <summary>An HttpClient that trusts this registry's CA and sends its credentials as Basic auth (for seeding through the raw API).</summary>
    public HttpClient CreateRawClient()
    {
        var client = new HttpClient(CreateHandler()) { BaseAddress = BaseAddress };
        if (Options.Auth == RegistryAuth.Basic)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Options.Username}:{Options.Password}")));
        }
        return client;
    }

    /// <summary>A handler that trusts this registry's CA (and nothing else) when it serves TLS.</summary>
    public SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler();
        if (ClientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [ClientCertificate];
        }
        if (CertificateAuthority is { } authority)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(authority.Certificate);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return certificate is X509Certificate2 cert && chain.Build(cert);
            };
        }
        return handler;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
        if (TokenServer is not null)
        {
            await TokenServer.DisposeAsync();
        }
        ClientCertificate?.Dispose();
        CertificateAuthority?.Dispose();
        _directory.Dispose();
    }

    private async Task StartProcessAsync(string registry)
    {
        System.IO.Directory.CreateDirectory(RootDirectory);
        var auth = "";
        switch (Options.Auth)
        {
            case RegistryAuth.Basic:
                var htpasswd = _directory.Combine("htpasswd");
                await File.WriteAllTextAsync(htpasswd, Htpasswd.Line(Options.Username, Options.Password) + "\n");
                auth = $"""
                    auth:
                      htpasswd:
                        realm: snapshotter-test
                        path: {htpasswd}
                    """;
                break;
            case RegistryAuth.Token:
                TokenServer = new RegistryTokenServer(TokenService, TokenIssuer,
                    Options.AnonymousTokens ? null : Options.Username, Options.Password, Options.RefreshToken);
                var bundle = _directory.Combine("token-signer.pem");
                TokenServer.WriteRootCertificateBundle(bundle);
                auth = $"""
                    auth:
                      token:
                        realm: {TokenServer.Realm}
                        service: {TokenService}
                        issuer: {TokenIssuer}
                        rootcertbundle: {bundle}
                    """;
                break;
        }
        var tls = "";
        if (Options.Tls)
        {
            CertificateAuthority = TestCertificateAuthority.Create();
            CaCertificatePath = _directory.Combine("ca.pem");
            TestCertificateAuthority.WritePem(CertificateAuthority.Certificate, CaCertificatePath);
            using var server = CertificateAuthority.IssueServer();
            TestCertificateAuthority.WritePem(server, _directory.Combine("server.pem"), _directory.Combine("server-key.pem"));
            tls = $"""
                  tls:
                    certificate: {_directory.Combine("server.pem")}
                    key: {_directory.Combine("server-key.pem")}
                """;
            if (Options.RequireClientCertificate)
            {
                ClientCertificate = CertificateAuthority.IssueClient();
                ClientCertificatePath = _directory.Combine("client.pem");
                ClientKeyPath = _directory.Combine("client-key.pem");
                TestCertificateAuthority.WritePem(ClientCertificate, ClientCertificatePath, ClientKeyPath);
                tls += $"""

                        clientcas:
                          - {CaCertificatePath}
                    """;
            }
        }

        // A port taken between FreePort and the registry's bind makes it exit; try a few ports.
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort.Next();
            Host = $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
            var config = _directory.Combine("config.yml");
            await File.WriteAllTextAsync(config, $"""
                version: 0.1
                log:
                  level: info
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {RootDirectory}
                  delete:
                    enabled: true
                  cache:
                    blobdescriptor: inmemory
                http:
                  addr: {Host}
                  secret: {Guid.NewGuid():N}
                {tls}
                {auth}
                """);
            _process = new BackgroundProcess(registry, ["serve", config]);
            try
            {
                await _process.WaitUntilAsync(AnswersAsync, TimeSpan.FromSeconds(30), "answering /v2/");
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && _process.Output.Contains("address already in use", StringComparison.Ordinal))
            {
                await _process.DisposeAsync();
            }
        }
    }

    private async Task<bool> AnswersAsync()
    {
        using var client = new HttpClient(CreateHandler()) { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await client.GetAsync(new Uri(BaseAddress, "/v2/"));
            return (int)response.StatusCode is 200 or 401;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }
}
