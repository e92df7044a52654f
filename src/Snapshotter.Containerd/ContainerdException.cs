using Grpc.Core;

namespace Snapshotter.Containerd;

/// <summary>What went wrong in a containerd call, as containerd's errdefs classify it.</summary>
public enum ContainerdError
{
    Unknown,
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    /// <summary>containerd is not reachable, or a resource is locked by another client.</summary>
    Unavailable,
    Canceled,
    DeadlineExceeded,
    PermissionDenied,
    Unimplemented,
}

/// <summary>A containerd API call failed; <see cref="Error"/> says how, the message says which call and why.</summary>
public sealed class ContainerdException : Exception
{
    public ContainerdException()
    {
    }

    public ContainerdException(string message)
        : base(message)
    {
    }

    public ContainerdException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public ContainerdException(ContainerdError error, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
    }

    public ContainerdError Error { get; }

    public bool IsNotFound => Error == ContainerdError.NotFound;

    public bool IsAlreadyExists => Error == ContainerdError.AlreadyExists;

    /// <summary>The one place where gRPC statuses become <see cref="ContainerdException"/>s.</summary>
    internal static ContainerdException From(RpcException e, string what, string address) => e.StatusCode switch
    {
        StatusCode.Unavailable when e.InnerException is not null || e.Status.DebugException is not null =>
            new ContainerdException(ContainerdError.Unavailable,
                $"{what}: containerd is not reachable at {address} ({Innermost(e).Message})", e),
        _ => new ContainerdException(Map(e.StatusCode), $"{what}: {Detail(e)}", e),
    };

    private static ContainerdError Map(StatusCode code) => code switch
    {
        StatusCode.NotFound => ContainerdError.NotFound,
        StatusCode.AlreadyExists => ContainerdError.AlreadyExists,
        StatusCode.InvalidArgument => ContainerdError.InvalidArgument,
        StatusCode.FailedPrecondition => ContainerdError.FailedPrecondition,
        StatusCode.Unavailable => ContainerdError.Unavailable,
        StatusCode.Cancelled => ContainerdError.Canceled,
        StatusCode.DeadlineExceeded => ContainerdError.DeadlineExceeded,
        StatusCode.PermissionDenied or StatusCode.Unauthenticated => ContainerdError.PermissionDenied,
        StatusCode.Unimplemented => ContainerdError.Unimplemented,
        _ => ContainerdError.Unknown,
    };

    private static string Detail(RpcException e) =>
        string.IsNullOrEmpty(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail;

    private static Exception Innermost(Exception e)
    {
        var inner = e.InnerException ?? (e as RpcException)?.Status.DebugException;
        return inner is null ? e : Innermost(inner);
    }
}
