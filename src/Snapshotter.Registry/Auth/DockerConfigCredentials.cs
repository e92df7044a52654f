using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace Snapshotter.Registry.Auth;

/// <summary>Where registry credentials come from; null means "none here, ask the next source or go anonymous".</summary>
internal interface ICredentialSource
{
    ValueTask<RegistryCredential?> GetAsync(string host, CancellationToken cancellationToken);
}

/// <summary>Tries each source in order, as stargz's keychain chain does.</summary>
internal sealed class CredentialChain(IReadOnlyList<ICredentialSource> sources) : ICredentialSource
{
    public async ValueTask<RegistryCredential?> GetAsync(string host, CancellationToken cancellationToken)
    {
        foreach (var source in sources)
        {
            if (await source.GetAsync(host, cancellationToken).ConfigureAwait(false) is { } credential)
            {
                return credential;
            }
        }
        return null;
    }
}

internal sealed class DelegateCredentialSource(Func<string, CancellationToken, ValueTask<RegistryCredential?>> get) : ICredentialSource
{
    public ValueTask<RegistryCredential?> GetAsync(string host, CancellationToken cancellationToken) => get(host, cancellationToken);
}

/// <summary>
/// Credentials from Docker's <c>config.json</c>: <c>auths</c> (<c>auth</c> = base64 user:password,
/// or <c>username</c>/<c>password</c>, or <c>identitytoken</c>), <c>credHelpers</c> per host and
/// <c>credsStore</c>, both through the <c>docker-credential-&lt;name&gt; get</c> protocol. The file is
/// re-read when its modification time or size changes. Docker Hub's key is <c>https://index.docker.io/v1/</c>.
/// </summary>
internal sealed class DockerConfigCredentials(string path, string? helperSearchPath, ILogger logger) : ICredentialSource
{
    public const string DockerHubKey = "https://index.docker.io/v1/";
    private readonly Lock _lock = new();
    private (DateTime Modified, long Length) _stamp;
    private DockerConfigFile? _config;

    public string Path => path;

    public static string DefaultPath()
    {
        var directory = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
        if (string.IsNullOrEmpty(directory))
        {
            directory = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        }
        return System.IO.Path.Combine(directory, "config.json");
    }

    public async ValueTask<RegistryCredential?> GetAsync(string host, CancellationToken cancellationToken)
    {
        var config = Load();
        if (config is null)
        {
            return null;
        }
        var keys = Keys(host);
        var helper = config.CredHelpers?.FirstOrDefault(h => keys.Contains(h.Key, StringComparer.OrdinalIgnoreCase)).Value;
        if (!string.IsNullOrEmpty(helper))
        {
            return await CredentialHelper.GetAsync(helper, ServerUrl(host), helperSearchPath, cancellationToken).ConfigureAwait(false);
        }
        if (!string.IsNullOrEmpty(config.CredsStore) &&
            await CredentialHelper.GetAsync(config.CredsStore, ServerUrl(host), helperSearchPath, cancellationToken).ConfigureAwait(false) is { } stored)
        {
            return stored;
        }
        if (config.Auths is null)
        {
            return null;
        }
        foreach (var (key, entry) in config.Auths)
        {
            if (entry is not null && keys.Contains(NormalizeKey(key), StringComparer.OrdinalIgnoreCase))
            {
                return FromEntry(entry, key);
            }
        }
        return null;
    }

    private RegistryCredential? FromEntry(DockerAuthEntry entry, string key)
    {
        string? user = entry.Username;
        string? password = entry.Password;
        if (!string.IsNullOrEmpty(entry.Auth))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(entry.Auth));
            }
            catch (FormatException e)
            {
                throw new RegistryException($"{path}: auths[\"{key}\"].auth is not base64", e);
            }
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw new RegistryException($"{path}: auths[\"{key}\"].auth is not base64 of user:password");
            }
            (user, password) = (decoded[..colon], decoded[(colon + 1)..]);
        }
        if (!string.IsNullOrEmpty(entry.IdentityToken))
        {
            // Docker sends an identity token as the password with the user name kept (or empty).
            return new RegistryCredential(user, entry.IdentityToken, IsIdentityToken: true);
        }
        return string.IsNullOrEmpty(password) && string.IsNullOrEmpty(user) ? null : new RegistryCredential(user, password ?? "");
    }

    private DockerConfigFile? Load()
    {
        lock (_lock)
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                _config = null;
                _stamp = default;
                return null;
            }
            var stamp = (info.LastWriteTimeUtc, info.Length);
            if (_config is not null && stamp == _stamp)
            {
                return _config;
            }
            try
            {
                _config = JsonSerializer.Deserialize(File.ReadAllBytes(path), DockerConfigJsonContext.Default.DockerConfigFile) ?? new DockerConfigFile();
            }
            catch (JsonException e)
            {
                throw new RegistryException($"{path}: invalid Docker config: {e.Message}", e);
            }
            _stamp = stamp;
            Log.DockerConfigLoaded(logger, path);
            return _config;
        }
    }

    private static string ServerUrl(string host) => IsDockerHub(host) ? DockerHubKey : host;

    private static bool IsDockerHub(string host) => host is "docker.io" or "registry-1.docker.io" or "index.docker.io";

    private static List<string> Keys(string host) =>
        IsDockerHub(host) ? ["index.docker.io", "docker.io", "registry-1.docker.io", DockerHubKey] : [host];

    /// <summary><c>https://host/v1/</c> → <c>host</c>; keeps the Docker Hub key as is (it is matched literally too).</summary>
    private static string NormalizeKey(string key)
    {
        if (key == DockerHubKey)
        {
            return "index.docker.io";
        }
        var text = key;
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            text = text[(scheme + 3)..];
        }
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash >= 0 ? text[..slash] : text;
    }
}

/// <summary>The <c>docker-credential-&lt;helper&gt; get</c> protocol: server URL on stdin, JSON on stdout.</summary>
internal static class CredentialHelper
{
    public static async Task<RegistryCredential?> GetAsync(string helper, string serverUrl, string? searchPath, CancellationToken cancellationToken)
    {
        var name = "docker-credential-" + helper;
        var executable = (searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, name))
            .FirstOrDefault(File.Exists)
            ?? throw new RegistryException($"credential helper {name} (for {serverUrl}) is not on the search path");
        var start = new ProcessStartInfo(executable, "get")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new RegistryException($"could not start {executable}");
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await process.StandardInput.WriteAsync(serverUrl.AsMemory(), limit.Token).ConfigureAwait(false);
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(limit.Token);
            var stderr = process.StandardError.ReadToEndAsync(limit.Token);
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            var output = await stdout.ConfigureAwait(false);
            var error = await stderr.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                var message = (output + error).Trim();
                if (message.Contains("credentials not found", StringComparison.OrdinalIgnoreCase))
                {
                    return null;
                }
                throw new RegistryException($"{name} get {serverUrl} exited with {process.ExitCode}: {message}");
            }
            HelperAnswer answer;
            try
            {
                answer = JsonSerializer.Deserialize(output, DockerConfigJsonContext.Default.HelperAnswer)
                    ?? throw new RegistryException($"{name} get {serverUrl} printed null");
            }
            catch (JsonException e)
            {
                throw new RegistryException($"{name} get {serverUrl} printed invalid JSON: {e.Message}", e);
            }
            if (string.IsNullOrEmpty(answer.Secret))
            {
                return null;
            }
            // "<token>" as the user name marks an identity token (docker-credential-helpers convention).
            return answer.Username == "<token>"
                ? new RegistryCredential(null, answer.Secret, IsIdentityToken: true)
                : new RegistryCredential(answer.Username, answer.Secret);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill();
            throw new RegistryException($"{name} get {serverUrl} did not answer within 30 s");
        }
    }
}

internal sealed class DockerConfigFile
{
    [JsonPropertyName("auths")]
    public Dictionary<string, DockerAuthEntry?>? Auths { get; set; }

    [JsonPropertyName("credHelpers")]
    public Dictionary<string, string>? CredHelpers { get; set; }

    [JsonPropertyName("credsStore")]
    public string? CredsStore { get; set; }
}

internal sealed class DockerAuthEntry
{
    [JsonPropertyName("auth")]
    public string? Auth { get; set; }

    [JsonPropertyName("username")]
    public string? Username { get; set; }

    [JsonPropertyName("password")]
    public string? Password { get; set; }

    [JsonPropertyName("identitytoken")]
    public string? IdentityToken { get; set; }
}

internal sealed class HelperAnswer
{
    [JsonPropertyName("ServerURL")]
    public string? ServerUrl { get; set; }

    [JsonPropertyName("Username")]
    public string? Username { get; set; }

    [JsonPropertyName("Secret")]
    public string? Secret { get; set; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(DockerConfigFile))]
[JsonSerializable(typeof(HelperAnswer))]
[JsonSerializable(typeof(TokenAnswer))]
[JsonSerializable(typeof(RegistryErrors))]
internal sealed partial class DockerConfigJsonContext : JsonSerializerContext;
