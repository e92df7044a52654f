using System.Net.Sockets;
using Containerd.Services.Snapshots.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>The daemon executable over its unix socket: status codes, socket handling, shutdown, crash safety.</summary>
public sealed class ServiceTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<StatusCode> StatusOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        return e.StatusCode;
    }

    [Fact]
    public async Task Calls_answer_with_containerd_status_codes_and_malformed_requests_get_invalid_argument()
    {
        using var directory = new TempDirectory("daemon");
        await using var daemon = await DaemonProcess.StartAsync(directory.Combine("root"), directory.Combine("run", "s.sock"));
        var client = daemon.Client;

        var prepared = await client.PrepareAsync(new PrepareSnapshotRequest { Key = "a", Labels = { ["l"] = "v" } }, cancellationToken: Token);
        var mount = Assert.Single(prepared.Mounts);
        Assert.Equal("bind", mount.Type);
        Assert.Equal(["rw", "rbind"], mount.Options);
        Assert.StartsWith(directory.Combine("root", "snapshots"), mount.Source);
        await client.CommitAsync(new CommitSnapshotRequest { Key = "a", Name = "c", Labels = { ["x"] = "y" } }, cancellationToken: Token);
        var child = await client.PrepareAsync(new PrepareSnapshotRequest { Key = "b", Parent = "c" }, cancellationToken: Token);
        Assert.Equal("overlay", Assert.Single(child.Mounts).Type);

        var stat = await client.StatAsync(new StatSnapshotRequest { Key = "c" }, cancellationToken: Token);
        Assert.Equal(Kind.Committed, stat.Info.Kind);
        Assert.Equal("y", stat.Info.Labels["x"]);
        var updated = await client.UpdateAsync(new UpdateSnapshotRequest
        {
            Info = new Info { Name = "c", Labels = { ["z"] = "1" } },
            UpdateMask = new FieldMask { Paths = { "labels.z" } },
        }, cancellationToken: Token);
        Assert.Equal(new Dictionary<string, string> { ["x"] = "y", ["z"] = "1" }, updated.Info.Labels);

        using (var list = client.List(new ListSnapshotsRequest { Filters = { "parent==c" } }, cancellationToken: Token))
        {
            var names = new List<string>();
            await foreach (var response in list.ResponseStream.ReadAllAsync(Token))
            {
                names.AddRange(response.Info.Select(i => i.Name));
            }
            Assert.Equal(["b"], names);
        }
        var usage = await client.UsageAsync(new UsageRequest { Key = "c" }, cancellationToken: Token);
        Assert.Equal(1, usage.Inodes);

        Assert.Equal(StatusCode.NotFound, await StatusOf(() => client.StatAsync(new StatSnapshotRequest { Key = "missing" }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await StatusOf(() => client.PrepareAsync(new PrepareSnapshotRequest { Key = "d", Parent = "missing" }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.AlreadyExists, await StatusOf(() => client.PrepareAsync(new PrepareSnapshotRequest { Key = "b" }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.FailedPrecondition, await StatusOf(() => client.RemoveAsync(new RemoveSnapshotRequest { Key = "c" }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.FailedPrecondition, await StatusOf(() => client.CommitAsync(new CommitSnapshotRequest { Key = "c", Name = "e" }, cancellationToken: Token).ResponseAsync));

        // Malformed requests.
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => client.PrepareAsync(new PrepareSnapshotRequest(), cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => client.CommitAsync(new CommitSnapshotRequest { Key = "b" }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => client.UpdateAsync(new UpdateSnapshotRequest(), cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => client.UpdateAsync(new UpdateSnapshotRequest
        {
            Info = new Info { Name = "c" },
            UpdateMask = new FieldMask { Paths = { "parent" } },
        }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(() => client.PrepareAsync(
            new PrepareSnapshotRequest { Key = "big", Labels = { ["k"] = new string('v', 5000) } }, cancellationToken: Token).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await StatusOf(async () =>
        {
            using var call = client.List(new ListSnapshotsRequest { Filters = { "labels.\"unterminated" } }, cancellationToken: Token);
            await call.ResponseStream.MoveNext(Token);
        }));

        // Bytes that are no protobuf message at all: refused, and the daemon keeps serving.
        var garbage = new Method<byte[], byte[]>(MethodType.Unary, "containerd.services.snapshots.v1.Snapshots", "Prepare",
            Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        var invoker = DaemonProcess.Channel(daemon.Address).CreateCallInvoker();
        var garbageStatus = await StatusOf(() => invoker.AsyncUnaryCall(garbage, null, new CallOptions(cancellationToken: Token), [0xff, 0xff, 0xff, 0x0f, 0x12]).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, garbageStatus);
        Assert.False(daemon.Process.HasExited);
        Assert.Equal(Kind.Active, (await client.StatAsync(new StatSnapshotRequest { Key = "b" }, cancellationToken: Token)).Info.Kind);
    }

    [Fact]
    public async Task A_layer_without_a_TOC_digest_label_is_not_mounted_lazily_and_falls_back_to_a_normal_pull()
    {
        using var directory = new TempDirectory("daemon");
        await using var daemon = await DaemonProcess.StartAsync(directory.Combine("root"), directory.Combine("s.sock"));
        var labels = new Dictionary<string, string>
        {
            ["containerd.io/snapshot.ref"] = "sha256:chain",
            ["containerd.io/snapshot/remote/stargz.reference"] = "registry.test/sample:1",
            ["containerd.io/snapshot/remote/stargz.digest"] = "sha256:layer",
        };

        var prepared = await daemon.Client.PrepareAsync(new PrepareSnapshotRequest { Key = "extract-1 sha256:chain", Labels = { labels } }, cancellationToken: Token);

        Assert.Equal("bind", Assert.Single(prepared.Mounts).Type);
        Assert.Equal(Kind.Active, (await daemon.Client.StatAsync(new StatSnapshotRequest { Key = "extract-1 sha256:chain" }, cancellationToken: Token)).Info.Kind);
        Assert.Equal(StatusCode.NotFound, await StatusOf(() => daemon.Client.StatAsync(new StatSnapshotRequest { Key = "sha256:chain" }, cancellationToken: Token).ResponseAsync));
        // Log lines reach us asynchronously.
        for (var i = 0; i < 100 && !daemon.Process.Output.Contains("falling back to a normal pull", StringComparison.Ordinal); i++)
        {
            await Task.Delay(50, Token);
        }
        // The eStargz filesystem refuses an unverifiable layer before asking the registry (registry.test does not exist).
        Assert.Contains("falling back to a normal pull", daemon.Process.Output);
        Assert.Contains("no containerd.io/snapshot/stargz/toc.digest label", daemon.Process.Output);
    }

    [Fact]
    public async Task The_socket_is_0660_a_stale_one_is_replaced_a_live_one_is_kept_and_sigterm_removes_it()
    {
        using var directory = new TempDirectory("daemon");
        var address = directory.Combine("run", "s.sock");
        Directory.CreateDirectory(directory.Combine("run"));
        // A stale socket: bound once, nobody listening any more.
        // .NET unlinks the path it bound when the socket closes; renamed first, the socket file stays, as after a crash.
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(address + ".bound"));
            File.Move(address + ".bound", address);
        }
        Assert.True(File.Exists(address));

        await using var daemon = await DaemonProcess.StartAsync(directory.Combine("root"), address);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(address));
        Assert.Contains("Removed stale socket", daemon.Process.Output);

        await using (var second = DaemonProcess.Launch(directory.Combine("root2"), address))
        {
            for (var waited = 0; !second.HasExited && waited < 600; waited++)
            {
                await Task.Delay(100, Token);
            }
            Assert.True(second.HasExited, second.Output);
            Assert.Contains("another process is serving", second.Output);
        }
        Assert.Equal(StatusCode.NotFound, await StatusOf(() => daemon.Client.StatAsync(new StatSnapshotRequest { Key = "x" }, cancellationToken: Token).ResponseAsync));

        await daemon.Process.StopAsync(TimeSpan.FromSeconds(20));
        Assert.True(daemon.Process.HasExited);
        Assert.Contains("Stopped; socket", daemon.Process.Output);
        Assert.False(File.Exists(address));
    }

    [Fact]
    public async Task Kill_9_during_a_stream_of_commits_loses_no_acknowledged_snapshot_and_corrupts_nothing()
    {
        using var directory = new TempDirectory("daemon");
        var root = directory.Combine("root");
        await using var daemon = await DaemonProcess.StartAsync(root, directory.Combine("s.sock"));
        var client = daemon.Client;
        var acknowledged = new List<string>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);

        var writer = Task.Run(async () =>
        {
            var parent = "";
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    var name = $"layer-{i}";
                    await client.PrepareAsync(new PrepareSnapshotRequest { Key = $"extract-{i}", Parent = parent, Labels = { ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
                    await client.CommitAsync(new CommitSnapshotRequest { Key = $"extract-{i}", Name = name, Labels = { ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
                    lock (acknowledged)
                    {
                        acknowledged.Add(name);
                    }
                    parent = name;
                }
                catch (RpcException)
                {
                    return; // the daemon is gone
                }
            }
        }, Token);

        while (true)
        {
            lock (acknowledged)
            {
                if (acknowledged.Count >= 40)
                {
                    break;
                }
            }
            Assert.False(writer.IsCompleted, "the writer stopped before the crash: " + daemon.Process.Output);
            await Task.Delay(10, Token);
        }
        await daemon.Process.KillAsync(); // mid-stream: calls are in flight
        await stop.CancelAsync();
        await writer;

        using (var connection = new SqliteConnection($"Data Source={Path.Combine(root, "metadata.db")}"))
        {
            connection.Open();
            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", check.ExecuteScalar());
        }

        await daemon.CrashAndRestartAsync();
        var client2 = daemon.Client;
        string[] names;
        lock (acknowledged)
        {
            names = acknowledged.ToArray();
        }
        for (var i = 0; i < names.Length; i++)
        {
            var info = (await client2.StatAsync(new StatSnapshotRequest { Key = names[i] }, cancellationToken: Token)).Info;
            Assert.Equal(Kind.Committed, info.Kind);
            Assert.Equal(i == 0 ? "" : names[i - 1], info.Parent);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), info.Labels["n"]);
        }
        // The chain keeps working after the crash: a child of the last acknowledged layer.
        var mounts = await client2.PrepareAsync(new PrepareSnapshotRequest { Key = "after-crash", Parent = names[^1] }, cancellationToken: Token);
        Assert.Contains(mounts.Mounts[0].Options, o => o.StartsWith("lowerdir=", StringComparison.Ordinal));
    }
}
