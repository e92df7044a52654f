using System.Collections.Concurrent;
using System.Net;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Snapshotter.Registry.Hosts;

/// <summary>
/// containerd's registry host configuration: <c>&lt;certs.d&gt;/&lt;host&gt;/hosts.toml</c> (or
/// <c>_default/hosts.toml</c>), mirrors in file order and then the server. Without a file the
/// origin is used: <c>docker.io</c> maps to <c>registry-1.docker.io</c>; a loopback registry (or
/// any, with <paramref name="plainHttp"/>) is tried with https and falls back to http. A host directory without hosts.toml may hold legacy
/// <c>*.crt</c> CAs and <c>*.cert</c>/<c>*.key</c> client pairs. Files are re-read when they change.
/// </summary>
internal sealed class HostsConfiguration(string? directory, bool plainHttp = false)
{
    private readonly ConcurrentDictionary<string, (DateTime Stamp, IReadOnlyList<RegistryEndpoint> Endpoints)> _cache = new(StringComparer.Ordinal);

    public IReadOnlyList<RegistryEndpoint> Endpoints(string registry)
    {
        var hostDirectory = HostDirectory(registry);
        var file = hostDirectory is null ? null : Path.Combine(hostDirectory, "hosts.toml");
        var stamp = file is not null && File.Exists(file) ? File.GetLastWriteTimeUtc(file) : hostDirectory is null ? DateTime.MinValue : Directory.GetLastWriteTimeUtc(hostDirectory);
        if (_cache.TryGetValue(registry, out var cached) && cached.Stamp == stamp)
        {
            return cached.Endpoints;
        }
        IReadOnlyList<RegistryEndpoint> endpoints = file is not null && File.Exists(file)
            ? Parse(registry, File.ReadAllText(file), hostDirectory!, file)
            : [Legacy(registry, hostDirectory, plainHttp)];
        _cache[registry] = (stamp, endpoints);
        return endpoints;
    }

    /// <summary>Parses hosts.toml text; relative certificate paths are relative to <paramref name="baseDirectory"/>.</summary>
    public static IReadOnlyList<RegistryEndpoint> Parse(string registry, string toml, string baseDirectory, string source = "hosts.toml")
    {
        TomlTable table;
        try
        {
            table = TomlSerializer.Deserialize(toml, HostsTomlContext.Default.TomlTable) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new FormatException($"{source}: invalid TOML: {e.Message}", e);
        }
        var endpoints = new List<RegistryEndpoint>();
        if (table.TryGetValue("host", out var hosts))
        {
            if (hosts is not TomlTable hostTable)
            {
                throw new FormatException($"{source}: 'host' must be a table of [host.\"<url>\"] sections");
            }
            foreach (var (url, value) in hostTable)
            {
                if (value is not TomlTable settings)
                {
                    throw new FormatException($"{source}: host.\"{url}\" must be a table");
                }
                endpoints.Add(Endpoint(registry, url, settings, baseDirectory, source, isMirror: true));
            }
        }
        var server = table.TryGetValue("server", out var serverValue)
            ? serverValue as string ?? throw new FormatException($"{source}: 'server' must be a string")
            : null;
        endpoints.Add(server is null
            ? Endpoint(registry, DefaultServer(registry), table, baseDirectory, source, isMirror: false) with { HttpFallback = IsLoopback(registry) }
            : Endpoint(registry, server, table, baseDirectory, source, isMirror: false));
        return endpoints;
    }

    /// <summary>The origin server URL containerd uses for a registry name.</summary>
    public static string DefaultServer(string registry) =>
        registry == "docker.io" ? "https://registry-1.docker.io" : "https://" + registry;

    private string? HostDirectory(string registry)
    {
        if (directory is null)
        {
            return null;
        }
        // containerd also accepts the host name with ':' replaced (for filesystems without colons).
        foreach (var name in new[] { registry, registry.Replace(':', '_'), "_default" })
        {
            var candidate = Path.Combine(directory, name);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static RegistryEndpoint Legacy(string registry, string? hostDirectory, bool plainHttp)
    {
        var endpoint = new RegistryEndpoint
        {
            Registry = registry,
            BaseUri = new Uri(DefaultServer(registry) + "/v2"),
            HttpFallback = plainHttp || IsLoopback(registry),
        };
        if (hostDirectory is null)
        {
            return endpoint;
        }
        var cas = Directory.GetFiles(hostDirectory, "*.crt").Order(StringComparer.Ordinal).ToList();
        var clients = Directory.GetFiles(hostDirectory, "*.cert").Order(StringComparer.Ordinal)
            .Select(cert => new ClientCertificateFiles(cert, Path.ChangeExtension(cert, ".key")))
            .Where(pair => File.Exists(pair.Key))
            .ToList();
        return endpoint with { CaFiles = cas, ClientCertificates = clients };
    }

    private static RegistryEndpoint Endpoint(string registry, string url, TomlTable settings, string baseDirectory, string source, bool isMirror)
    {
        if (!url.Contains("://", StringComparison.Ordinal))
        {
            url = "https://" + url;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || !string.IsNullOrEmpty(uri.Query))
        {
            throw new FormatException($"{source}: '{url}' is not an http(s) URL");
        }
        var overridePath = Bool(settings, "override_path", source);
        var path = uri.AbsolutePath.TrimEnd('/');
        if (!overridePath && !path.EndsWith("/v2", StringComparison.Ordinal))
        {
            path += "/v2";
        }
        return new RegistryEndpoint
        {
            Registry = registry,
            BaseUri = new UriBuilder(uri) { Path = path }.Uri,
            Capabilities = Capabilities(settings, source),
            SkipVerify = Bool(settings, "skip_verify", source),
            CaFiles = Strings(settings, "ca", source).Select(p => Path.GetFullPath(p, baseDirectory)).ToList(),
            ClientCertificates = ClientCertificates(settings, baseDirectory, source),
            Headers = Headers(settings, source),
            IsMirror = isMirror,
        };
    }

    private static HostCapabilities Capabilities(TomlTable settings, string source)
    {
        if (!settings.ContainsKey("capabilities"))
        {
            return HostCapabilities.All;
        }
        var result = HostCapabilities.None;
        foreach (var name in Strings(settings, "capabilities", source))
        {
            result |= name switch
            {
                "pull" => HostCapabilities.Pull,
                "resolve" => HostCapabilities.Resolve,
                "push" => HostCapabilities.Push,
                _ => throw new FormatException($"{source}: unknown capability '{name}' (pull, resolve, push)"),
            };
        }
        return result;
    }

    private static List<ClientCertificateFiles> ClientCertificates(TomlTable settings, string baseDirectory, string source)
    {
        if (!settings.TryGetValue("client", out var value))
        {
            return [];
        }
        string Full(string p) => Path.GetFullPath(p, baseDirectory);
        return value switch
        {
            string single => [new ClientCertificateFiles(Full(single), null)],
            TomlArray array => array.Select(item => item switch
            {
                string single => new ClientCertificateFiles(Full(single), null),
                TomlArray { Count: 2 } pair when pair[0] is string cert && pair[1] is string key =>
                    new ClientCertificateFiles(Full(cert), key.Length == 0 ? null : Full(key)),
                _ => throw new FormatException($"{source}: 'client' entries are \"cert.pem\" or [\"cert\", \"key\"]"),
            }).ToList(),
            _ => throw new FormatException($"{source}: 'client' must be a string or an array"),
        };
    }

    private static Dictionary<string, IReadOnlyList<string>> Headers(TomlTable settings, string source)
    {
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        if (!settings.TryGetValue("header", out var value))
        {
            return headers;
        }
        if (value is not TomlTable table)
        {
            throw new FormatException($"{source}: 'header' must be a table");
        }
        foreach (var name in table.Keys)
        {
            headers[name] = Strings(table, name, source);
        }
        return headers;
    }

    private static bool Bool(TomlTable settings, string key, string source) =>
        settings.TryGetValue(key, out var value) &&
        (value as bool? ?? throw new FormatException($"{source}: '{key}' must be true or false"));

    private static List<string> Strings(TomlTable settings, string key, string source) =>
        !settings.TryGetValue(key, out var value) ? [] : value switch
        {
            string single => [single],
            TomlArray array when array.All(item => item is string) => array.Cast<string>().ToList(),
            _ => throw new FormatException($"{source}: '{key}' must be a string or an array of strings"),
        };

    internal static bool IsLoopback(string registry)
    {
        var host = registry;
        if (host.StartsWith('['))
        {
            host = host[1..host.IndexOf(']', StringComparison.Ordinal)];
        }
        else if (host.LastIndexOf(':') is var colon and > 0)
        {
            host = host[..colon];
        }
        return host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }
}

/// <summary>The TOML model, deserialized without reflection: <c>stargzctl</c> is compiled ahead of time (native AOT).</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class HostsTomlContext : TomlSerializerContext;
