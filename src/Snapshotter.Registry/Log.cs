using System.Net;
using Microsoft.Extensions.Logging;

namespace Snapshotter.Registry;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "read Docker config {Path}")]
    public static partial void DockerConfigLoaded(ILogger logger, string path);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{What}: attempt {Attempt} failed ({Reason}); retrying in {Delay}")]
    public static partial void Retrying(ILogger logger, string what, int attempt, string reason, TimeSpan delay);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "{Host} speaks plain http; using http from now on")]
    public static partial void PlainHttpFallback(ILogger logger, string host);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "fetched a token for {Host} scope '{Scope}', valid {Lifetime}")]
    public static partial void TokenFetched(ILogger logger, string host, string scope, TimeSpan lifetime);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "blob {Digest}: the server refused a multi-range request (HTTP {Status}); single ranges from now on")]
    public static partial void SingleRangeMode(ILogger logger, string digest, HttpStatusCode status);

    [LoggerMessage(EventId = 6, Level = LogLevel.Debug, Message = "blob {Digest} redirected to {Location}")]
    public static partial void BlobRedirected(ILogger logger, string digest, string location);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "blob {Digest}: HTTP 403 from its storage URL; resolving the location again")]
    public static partial void BlobLocationExpired(ILogger logger, string digest);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "{What}: {Endpoint} failed ({Reason}); trying the next host")]
    public static partial void EndpointFailed(ILogger logger, string what, string endpoint, string reason);

    [LoggerMessage(EventId = 9, Level = LogLevel.Debug, Message = "blob {Digest}: body cut short ({Reason}); resuming {Remaining} bytes")]
    public static partial void Resuming(ILogger logger, string digest, string reason, long remaining);

    [LoggerMessage(EventId = 10, Level = LogLevel.Debug, Message = "blob {Digest} is already in {Repository}; upload skipped")]
    public static partial void BlobExists(ILogger logger, string digest, string repository);

    [LoggerMessage(EventId = 11, Level = LogLevel.Debug, Message = "blob {Digest} mounted into {Repository} from {From}")]
    public static partial void BlobMounted(ILogger logger, string digest, string repository, string from);

    [LoggerMessage(EventId = 12, Level = LogLevel.Debug, Message = "blob {Digest}: cancelling the upload the registry opened in {Repository} instead of a mount failed: {Reason}")]
    public static partial void UploadCancelFailed(ILogger logger, string digest, string repository, string reason);
}
