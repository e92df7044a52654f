using Grpc.Core;
using Grpc.Core.Interceptors;
using Snapshotter.Snapshots;

namespace Snapshotter.Daemon;

/// <summary>The one place where snapshot errors become gRPC status codes (containerd's errdefs mapping).</summary>
internal sealed class SnapshotErrorInterceptor(ILogger<SnapshotErrorInterceptor> logger) : Interceptor
{
    public static StatusCode ToStatusCode(SnapshotError error) => error switch
    {
        SnapshotError.NotFound => StatusCode.NotFound,
        SnapshotError.AlreadyExists => StatusCode.AlreadyExists,
        SnapshotError.FailedPrecondition => StatusCode.FailedPrecondition,
        SnapshotError.InvalidArgument => StatusCode.InvalidArgument,
        SnapshotError.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (Translate(e, context) is { } status)
        {
            throw new RpcException(status, e.Message);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception e) when (Translate(e, context) is { } status)
        {
            throw new RpcException(status, e.Message);
        }
    }

    private Status? Translate(Exception exception, ServerCallContext context)
    {
        switch (exception)
        {
            case RpcException:
                return null;
            case SnapshotException snapshot:
                DaemonLog.CallRefused(logger, context.Method, snapshot.Error, snapshot.Message);
                return new Status(ToStatusCode(snapshot.Error), snapshot.Message);
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                return new Status(StatusCode.Cancelled, "call cancelled");
            default:
                DaemonLog.CallFailed(logger, context.Method, exception);
                return new Status(StatusCode.Internal, exception.Message);
        }
    }
}
