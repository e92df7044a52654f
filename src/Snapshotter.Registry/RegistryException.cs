using System.Net;
using Snapshotter.Oci;

namespace Snapshotter.Registry;

/// <summary>A registry request failed. The message names the registry, repository, object and HTTP status.</summary>
public class RegistryException : Exception
{
    public RegistryException()
    {
    }

    public RegistryException(string message)
        : base(message)
    {
    }

    public RegistryException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public RegistryException(string message, string registry, string? repository, HttpStatusCode? statusCode = null, string? errorCode = null, Digest? digest = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Registry = registry;
        Repository = repository;
        StatusCode = statusCode;
        ErrorCode = errorCode;
        Digest = digest;
    }

    public string? Registry { get; }

    public string? Repository { get; }

    /// <summary>The HTTP status of the failed answer, if there was one.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>The distribution error code from the answer body, e.g. <c>MANIFEST_UNKNOWN</c>, <c>UNAUTHORIZED</c>.</summary>
    public string? ErrorCode { get; }

    public Digest? Digest { get; }

    /// <summary>The object does not exist there (HTTP 404).</summary>
    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound;
}
