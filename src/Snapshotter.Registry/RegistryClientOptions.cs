namespace Snapshotter.Registry;

/// <summary>Settings of <see cref="RegistryClient"/>; the defaults follow containerd and stargz-snapshotter.</summary>
public sealed class RegistryClientOptions
{
    /// <summary>containerd's <c>certs.d</c> directory of <c>&lt;host&gt;/hosts.toml</c> files; null for none.</summary>
    public string? HostsDirectory { get; set; }

    /// <summary>Docker's config file; null for <c>$DOCKER_CONFIG/config.json</c> or <c>~/.docker/config.json</c>.</summary>
    public string? DockerConfigPath { get; set; }

    /// <summary>
    /// Lets hosts without a hosts.toml fall back to plain http when they do not speak TLS (like
    /// <c>--plain-http</c> of ctr); loopback hosts always may.
    /// </summary>
    public bool PlainHttp { get; set; }

    /// <summary>Whether credentials are read from the Docker config file (and its credential helpers).</summary>
    public bool UseDockerConfig { get; set; } = true;

    /// <summary>Where <c>docker-credential-*</c> helpers are looked for (a PATH-style list); null for <c>$PATH</c>.</summary>
    public string? CredentialHelperSearchPath { get; set; }

    /// <summary>Credentials tried before the Docker config (e.g. from CRI); return null to pass.</summary>
    public Func<string, CancellationToken, ValueTask<RegistryCredential?>>? Credentials { get; set; }

    /// <summary>How long a request may go without progress (answer headers, then each body read).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries after a connection error, a timeout, HTTP 429 or 5xx; a cut body resumes as often.</summary>
    public int MaxRetries { get; set; } = 5;

    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromMilliseconds(30);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a blob that answered counts as reachable: <see cref="IRangedBlob.CheckAsync"/> within
    /// it asks the registry nothing (stargz-snapshotter's <c>[blob] valid_interval</c>, 60 s). Zero:
    /// every check asks.
    /// </summary>
    public TimeSpan BlobCheckInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Requests in flight (headers and body) to one host at most.</summary>
    public int MaxConcurrentRequestsPerHost { get; set; } = 32;

    /// <summary>Manifests larger than this are refused (containerd: 4 MiB).</summary>
    public long MaxManifestSize { get; set; } = 4 << 20;

    /// <summary><see cref="IRegistryClient.GetBlobAsync"/> refuses blobs larger than this.</summary>
    public long MaxInMemoryBlobSize { get; set; } = 64 << 20;

    public string UserAgent { get; set; } = "snapshotter-cs/0.1";

    internal void Validate()
    {
        if (RequestTimeout <= TimeSpan.Zero || ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("RequestTimeout and ConnectTimeout must be positive");
        }
        if (MaxRetries < 0 || MaxConcurrentRequestsPerHost < 1)
        {
            throw new ArgumentException("MaxRetries must be >= 0 and MaxConcurrentRequestsPerHost >= 1");
        }
        if (BlobCheckInterval < TimeSpan.Zero)
        {
            throw new ArgumentException("BlobCheckInterval must not be negative");
        }
        if (MinRetryDelay < TimeSpan.Zero || MaxRetryDelay < MinRetryDelay)
        {
            throw new ArgumentException("retry delays must satisfy 0 <= MinRetryDelay <= MaxRetryDelay");
        }
    }
}

/// <summary>
/// Credentials for one registry host: a username and password, or an identity (refresh) token,
/// which is sent in the OAuth2 refresh_token grant (Docker's <c>identitytoken</c>).
/// </summary>
public sealed record RegistryCredential(string? Username, string Secret, bool IsIdentityToken = false)
{
    public override string ToString() => $"RegistryCredential {{ Username = {Username}, Secret = ***, IsIdentityToken = {IsIdentityToken} }}";
}
