using Snapshotter.Registry;
using Tomlyn.Model;

namespace Snapshotter.Daemon;

/// <summary>The <c>[registry]</c> section: how layers are read from registries.</summary>
public sealed record RegistryConfig
{
    /// <summary>containerd's certs.d layout: <c>&lt;dir&gt;/&lt;host[:port]&gt;/hosts.toml</c> (mirrors, plain http, TLS); read when a host is first used and when its file changes; a missing directory means none.</summary>
    public string ConfigPath { get; init; } = "/etc/containerd/certs.d";

    /// <summary>How long a registry request may go without progress.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries of a failed request (connection error, timeout, 429, 5xx) with exponential backoff.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>Requests in flight to one registry host at most.</summary>
    public int MaxConcurrentRequestsPerHost { get; init; } = 32;

    /// <summary>How long a layer blob that answered counts as reachable when a container starts (no probe request).</summary>
    public TimeSpan BlobCheckInterval { get; init; } = TimeSpan.FromSeconds(60);

    internal static RegistryConfig FromToml(TomlTable table, TomlValues values)
    {
        var config = new RegistryConfig();
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "config_path" => config with { ConfigPath = values.Text(key, value) },
                "request_timeout_seconds" => config with { RequestTimeout = values.Seconds(key, value) },
                "max_retries" => config with { MaxRetries = (int)Math.Min(values.Integer(key, value), 100) },
                "max_concurrent_requests_per_host" => config with { MaxConcurrentRequestsPerHost = (int)Math.Min(values.Integer(key, value, 1), 4096) },
                "blob_check_interval_seconds" => config with { BlobCheckInterval = TimeSpan.FromSeconds(Math.Min(values.Integer(key, value), 86_400)) },
                _ => throw values.Unknown(key),
            };
        }
        return config;
    }

    internal void Validate(TomlValues values)
    {
        if (!Path.IsPathFullyQualified(ConfigPath))
        {
            throw values.Error("config_path", $"must be an absolute path, got '{ConfigPath}'");
        }
        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw values.Error("request_timeout_seconds", "must be positive");
        }
    }

    internal RegistryClientOptions ToClientOptions() => new()
    {
        HostsDirectory = ConfigPath,
        RequestTimeout = RequestTimeout,
        MaxRetries = MaxRetries,
        MaxConcurrentRequestsPerHost = MaxConcurrentRequestsPerHost,
        BlobCheckInterval = BlobCheckInterval,
    };
}
