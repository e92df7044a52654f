using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using VersionClient = Containerd.Services.Version.V1.Version.VersionClient;

namespace Snapshotter.Containerd;

/// <summary>
/// A client of containerd's gRPC API on its unix socket. Every request carries the namespace
/// (<c>containerd-namespace</c> header) and, for a view made by <see cref="WithLease"/>, the lease
/// (<c>containerd-lease</c>) that keeps what the request creates from garbage collection.
/// Thread-safe; views share the root client's connection, which only the root disposes.
/// </summary>
public sealed partial class ContainerdClient : IDisposable
{
    public const string DefaultAddress = "/run/containerd/containerd.sock";
    public const string DefaultNamespace = "default";
    internal const string NamespaceHeader = "containerd-namespace";
    internal const string LeaseHeader = "containerd-lease";

    private readonly GrpcChannel _channel;
    private readonly bool _ownsChannel;

    private ContainerdClient(GrpcChannel channel, bool ownsChannel, string address, string @namespace, string? lease)
    {
        _channel = channel;
        _ownsChannel = ownsChannel;
        Address = address;
        Namespace = @namespace;
        Lease = lease;
        var invoker = channel.CreateCallInvoker().Intercept(metadata =>
        {
            metadata.Add(NamespaceHeader, @namespace);
            if (lease is not null)
            {
                metadata.Add(LeaseHeader, lease);
            }
            return metadata;
        });
        Connection = new Connection(invoker, address);
        Content = new ContentStore(Connection);
        Images = new ImageStore(Connection);
        Leases = new LeaseManager(Connection);
        Diff = new DiffService(Connection);
    }

    /// <summary>The unix socket path.</summary>
    public string Address { get; }

    public string Namespace { get; }

    /// <summary>The lease requests of this view belong to, if any.</summary>
    public string? Lease { get; }

    public ContentStore Content { get; }

    public ImageStore Images { get; }

    public LeaseManager Leases { get; }

    public DiffService Diff { get; }

    internal Connection Connection { get; }

    /// <summary>A client of containerd at <paramref name="address"/>; nothing is sent until the first call.</summary>
    public static ContainerdClient Connect(string address = DefaultAddress, string @namespace = DefaultNamespace)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        ValidateNamespace(@namespace);
        var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = (_, cancellationToken) => ConnectUnixAsync(address, cancellationToken),
                // containerd's Go gRPC server closes idle connections; keep-alive pings are not needed for a short CLI run.
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            },
            // A layer apply or a large Read answer fits; the default 4 MiB would cut content reads.
            MaxReceiveMessageSize = 64 << 20,
        });
        return new ContainerdClient(channel, ownsChannel: true, address, @namespace, lease: null);
    }

    /// <summary>The snapshots API of one snapshotter (e.g. <c>overlayfs</c>, or a proxy plugin's name such as <c>stargz</c>).</summary>
    public SnapshotService Snapshots(string snapshotter)
    {
        ArgumentException.ThrowIfNullOrEmpty(snapshotter);
        return new SnapshotService(Connection, snapshotter);
    }

    /// <summary>A view whose requests belong to <paramref name="leaseId"/>.</summary>
    public ContainerdClient WithLease(string leaseId)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        return new ContainerdClient(_channel, ownsChannel: false, Address, Namespace, leaseId);
    }

    /// <summary>A view in another namespace (created by containerd on first write).</summary>
    public ContainerdClient WithNamespace(string @namespace)
    {
        ValidateNamespace(@namespace);
        return new ContainerdClient(_channel, ownsChannel: false, Address, @namespace, Lease);
    }

    /// <summary>containerd's version and revision: a cheap check that it answers.</summary>
    public async Task<(string Version, string Revision)> VersionAsync(CancellationToken cancellationToken = default)
    {
        var client = new VersionClient(Connection.Invoker);
        var response = await Connection.CallAsync("version", client.VersionAsync(new Google.Protobuf.WellKnownTypes.Empty(), cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return (response.Version, response.Revision);
    }

    public void Dispose()
    {
        if (_ownsChannel)
        {
            _channel.Dispose();
        }
    }

    /// <summary>containerd's identifier rule for namespaces: alphanumeric parts joined by '.', '_' or '-', at most 76 characters.</summary>
    private static void ValidateNamespace(string @namespace)
    {
        ArgumentException.ThrowIfNullOrEmpty(@namespace);
        if (@namespace.Length > 76 || !IdentifierPattern().IsMatch(@namespace))
        {
            throw new ArgumentException($"invalid containerd namespace '{@namespace}': alphanumeric parts joined by '.', '_' or '-'", nameof(@namespace));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")]
    private static partial Regex IdentifierPattern();

    private static async ValueTask<Stream> ConnectUnixAsync(string address, CancellationToken cancellationToken)
    {
        if (!File.Exists(address))
        {
            // connect(2) would say EADDRNOTAVAIL, which reads as a network problem.
            throw new IOException("no socket there; is containerd running, and is this its address?");
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(address), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The call invoker of one client view and the translation of its failures.</summary>
internal sealed class Connection(CallInvoker invoker, string address)
{
    public CallInvoker Invoker { get; } = invoker;

    public string Address { get; } = address;

    public async Task<T> CallAsync<T>(string what, AsyncUnaryCall<T> call, CancellationToken cancellationToken)
    {
        using (call)
        {
            try
            {
                return await call.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                throw Translate(e, what, cancellationToken);
            }
        }
    }

    /// <summary>The items of every message of a server stream (List calls).</summary>
    public async IAsyncEnumerable<TItem> StreamAsync<TResponse, TItem>(string what, AsyncServerStreamingCall<TResponse> call,
        Func<TResponse, IEnumerable<TItem>> items, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using (call)
        {
            while (true)
            {
                TResponse response;
                try
                {
                    if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                    {
                        yield break;
                    }
                    response = call.ResponseStream.Current;
                }
                catch (RpcException e)
                {
                    throw Translate(e, what, cancellationToken);
                }
                foreach (var item in items(response))
                {
                    yield return item;
                }
            }
        }
    }

    public Exception Translate(RpcException e, string what, CancellationToken cancellationToken) =>
        e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested
            ? new OperationCanceledException($"{what}: canceled", e, cancellationToken)
            : ContainerdException.From(e, what, Address);
}
