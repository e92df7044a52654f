using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Snapshotter.Oci;
using Snapshotter.Registry.Auth;

namespace Snapshotter.Registry;

/// <summary>The distribution error body, <c>{"errors":[{"code":…,"message":…}]}</c>.</summary>
internal sealed class RegistryErrors
{
    [JsonPropertyName("errors")]
    public List<RegistryError>? Errors { get; set; }

    /// <summary>A <see cref="RegistryException"/> for a failed answer, naming the object, registry, repository, host and status, with the body's error codes.</summary>
    public static async Task<RegistryException> ToExceptionAsync(HttpResponseMessage response, string what, string registry, string? repository, Digest? digest, CancellationToken cancellationToken)
    {
        string? code = null;
        var detail = "";
        try
        {
            var body = await ReadLimitedAsync(response, 16 << 10, cancellationToken).ConfigureAwait(false);
            if (body.Length > 0)
            {
                try
                {
                    var errors = JsonSerializer.Deserialize(body, DockerConfigJsonContext.Default.RegistryErrors)?.Errors;
                    if (errors is { Count: > 0 })
                    {
                        code = errors[0].Code;
                        detail = ": " + string.Join("; ", errors.Select(e => $"{e.Code}: {e.Message}"));
                    }
                }
                catch (JsonException)
                {
                    var text = Encoding.UTF8.GetString(body).Trim();
                    detail = text.Length == 0 ? "" : ": " + (text.Length > 200 ? text[..200] + "…" : text);
                }
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The status alone still says what happened.
        }
        var host = response.RequestMessage?.RequestUri?.Authority ?? registry;
        var message = $"{what} in {registry}/{repository}: HTTP {(int)response.StatusCode} {response.ReasonPhrase} from {host}{detail}";
        return new RegistryException(message, registry, repository, response.StatusCode, code, digest);
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[limit];
        var total = 0;
        int read;
        while (total < limit && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += read;
        }
        return buffer[..total];
    }
}

internal sealed class RegistryError
{
    [JsonPropertyName("code")]
    public string? Code { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }
}

internal static class HttpStatus
{
    /// <summary>Answers worth another try: 408, 429 and the 5xx family except 501/505.</summary>
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError
            or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    public static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;
}
