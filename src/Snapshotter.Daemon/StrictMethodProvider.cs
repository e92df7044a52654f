using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Snapshotter.Snapshots;

namespace Snapshotter.Daemon;

/// <summary>
/// Binds <see cref="SnapshotsService"/> like the generated binder, except that a request body that is
/// not a valid protobuf message answers InvalidArgument (the default is Unknown): deserialization
/// happens before any interceptor, so this is where that one error gets its status.
/// </summary>
internal sealed class StrictMethodProvider : IServiceMethodProvider<SnapshotsService>
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<SnapshotsService> context) =>
        Containerd.Services.Snapshots.V1.Snapshots.BindService(new Binder(context), null!);

    /// <summary>Removes the default (generated-code) binder so that methods are not bound twice.</summary>
    public static void Replace(IServiceCollection services)
    {
        foreach (var descriptor in services.Where(d => d.ServiceType == typeof(IServiceMethodProvider<>)).ToList())
        {
            services.Remove(descriptor);
        }
        services.AddSingleton<IServiceMethodProvider<SnapshotsService>, StrictMethodProvider>();
    }

    private static Method<TRequest, TResponse> Strict<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        var deserialize = method.RequestMarshaller.ContextualDeserializer;
        var marshaller = new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context =>
        {
            try
            {
                return deserialize(context);
            }
            catch (InvalidProtocolBufferException e)
            {
                // Mapped by the interceptor's table, though thrown before any interceptor runs.
                throw new RpcException(new Status(
                    SnapshotErrorInterceptor.ToStatusCode(SnapshotError.InvalidArgument), $"malformed {typeof(TRequest).Name}: {e.Message}"));
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }

    private static TDelegate Invoker<TDelegate>(string name)
        where TDelegate : Delegate =>
        (TDelegate)Delegate.CreateDelegate(typeof(TDelegate),
            typeof(SnapshotsService).GetMethod(name) ?? throw new InvalidOperationException($"SnapshotsService has no method {name}"));

    private sealed class Binder(ServiceMethodProviderContext<SnapshotsService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            context.AddUnaryMethod(Strict(method), [], Invoker<UnaryServerMethod<SnapshotsService, TRequest, TResponse>>(method.Name));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddServerStreamingMethod(Strict(method), [], Invoker<ServerStreamingServerMethod<SnapshotsService, TRequest, TResponse>>(method.Name));
    }
}
