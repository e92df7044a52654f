using System.Diagnostics;
using System.Net.Sockets;
using Containerd.Services.Snapshots.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Snapshotter.Daemon.WarmUp;

/// <summary>
/// Once the socket listens, the calls containerd makes around each remote Prepare, sent by the
/// daemon to itself: a Stat of a key that cannot exist (the refusal path through the error
/// interceptor, which an AlreadyExists answer also takes) and a List with containerd's label
/// filter. In the benchmark's first pull of a fresh daemon each took 64-90 ms, against 7-10 ms
/// for the next layer. Read-only; a failure is logged and the daemon serves regardless.
/// </summary>
internal static class ServiceWarmUp
{
    private const string Key = "stargz-snapshotter-warm-up/no such snapshot";

    public static async Task RunAsync(string socketPath, TimeSpan timeout, ILogger logger, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            using var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler { ConnectCallback = (_, token) => ConnectAsync(socketPath, token) },
            });
            var client = new Containerd.Services.Snapshots.V1.Snapshots.SnapshotsClient(channel);
            try
            {
                await client.StatAsync(new StatSnapshotRequest { Snapshotter = "stargz", Key = Key }, cancellationToken: limit.Token);
                throw new InvalidOperationException($"a snapshot named '{Key}' exists");
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
            }
            using var list = client.List(new ListSnapshotsRequest
            {
                Snapshotter = "stargz",
                Filters = { $"labels.\"containerd.io/snapshot.ref\"==\"{Key}\",parent==\"{Key}\"" },
            }, cancellationToken: limit.Token);
            while (await list.ResponseStream.MoveNext(limit.Token))
            {
            }
            DaemonLog.ServiceWarmedUp(logger, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            DaemonLog.ServiceWarmUpFailed(logger, Stopwatch.GetElapsedTime(started).TotalMilliseconds, e);
        }
    }

    private static async ValueTask<Stream> ConnectAsync(string socketPath, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
