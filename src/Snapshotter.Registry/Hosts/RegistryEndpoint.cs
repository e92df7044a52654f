namespace Snapshotter.Registry.Hosts;

[Flags]
internal enum HostCapabilities
{
    None = 0,
    Pull = 1,
    Resolve = 2,
    Push = 4,
    All = Pull | Resolve | Push,
}

/// <summary>A client certificate and its key file (null when the certificate file holds the key).</summary>
internal sealed record ClientCertificateFiles(string Certificate, string? Key);

/// <summary>
/// One place a registry's content can be fetched from: a mirror from hosts.toml or the origin
/// server. <see cref="BaseUri"/> ends in the API root (normally <c>/v2</c>).
/// </summary>
internal sealed record RegistryEndpoint
{
    /// <summary>The registry name of the image reference this endpoint serves (e.g. docker.io).</summary>
    public required string Registry { get; init; }

    /// <summary>e.g. <c>https://registry-1.docker.io/v2</c>; no trailing slash.</summary>
    public required Uri BaseUri { get; init; }

    public HostCapabilities Capabilities { get; init; } = HostCapabilities.All;

    public bool SkipVerify { get; init; }

    public IReadOnlyList<string> CaFiles { get; init; } = [];

    public IReadOnlyList<ClientCertificateFiles> ClientCertificates { get; init; } = [];

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Headers { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>True for a mirror: requests carry <c>ns=&lt;registry&gt;</c> as containerd's do.</summary>
    public bool IsMirror { get; init; }

    /// <summary>An https endpoint on a loopback host that may turn out to speak plain http.</summary>
    public bool HttpFallback { get; init; }

    /// <summary><c>host[:port]</c>, the key for credentials, tokens and the per-host request bound.</summary>
    public string Authority => BaseUri.IsDefaultPort ? BaseUri.Host : $"{BaseUri.Host}:{BaseUri.Port}";

    /// <summary>Identifies the TLS settings; endpoints with equal keys share a connection pool.</summary>
    public string TlsKey => string.Join('|', [SkipVerify ? "skip" : "verify", .. CaFiles, .. ClientCertificates.Select(c => c.Certificate + "+" + c.Key)])
        + (HttpFallback ? "|fallback " + Authority : "");

    public bool Has(HostCapabilities capability) => (Capabilities & capability) == capability;

    /// <summary>The URL of <c>&lt;base&gt;/&lt;repository&gt;/&lt;kind&gt;/&lt;reference&gt;</c>, with <c>ns</c> for mirrors.</summary>
    public Uri Url(string repository, string kind, string reference, string? query = null)
    {
        var parts = new List<string>();
        if (query is not null)
        {
            parts.Add(query);
        }
        if (IsMirror)
        {
            parts.Add("ns=" + Uri.EscapeDataString(Registry));
        }
        var suffix = parts.Count == 0 ? "" : "?" + string.Join('&', parts);
        return new Uri($"{BaseUri.AbsoluteUri.TrimEnd('/')}/{repository}/{kind}/{reference}{suffix}");
    }

    /// <summary>The same endpoint over plain http (after an https attempt found a plain-http server).</summary>
    public RegistryEndpoint AsPlainHttp() => this with
    {
        BaseUri = new UriBuilder(BaseUri) { Scheme = Uri.UriSchemeHttp, Port = BaseUri.Port }.Uri,
        HttpFallback = false,
    };

    public override string ToString() => BaseUri.GetLeftPart(UriPartial.Authority) + (IsMirror ? " (mirror)" : "");
}
