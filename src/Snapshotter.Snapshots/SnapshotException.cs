namespace Snapshotter.Snapshots;

/// <summary>The error classes containerd distinguishes (its <c>errdefs</c>); the daemon maps each to one gRPC status.</summary>
public enum SnapshotError
{
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
}

/// <summary>A snapshot operation refused for a reason containerd understands.</summary>
public sealed class SnapshotException : Exception
{
    public SnapshotException(SnapshotError error, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
    }

    public SnapshotException()
        : this(SnapshotError.InvalidArgument, "snapshot operation failed")
    {
    }

    public SnapshotException(string message)
        : this(SnapshotError.InvalidArgument, message)
    {
    }

    public SnapshotException(string message, Exception innerException)
        : this(SnapshotError.InvalidArgument, message, innerException)
    {
    }

    public SnapshotError Error { get; }

    internal static SnapshotException NotFound(string message) => new(SnapshotError.NotFound, message);

    internal static SnapshotException AlreadyExists(string message) => new(SnapshotError.AlreadyExists, message);

    internal static SnapshotException FailedPrecondition(string message) => new(SnapshotError.FailedPrecondition, message);

    internal static SnapshotException InvalidArgument(string message) => new(SnapshotError.InvalidArgument, message);

    internal static SnapshotException Unavailable(string message, Exception? inner = null) => new(SnapshotError.Unavailable, message, inner);
}
