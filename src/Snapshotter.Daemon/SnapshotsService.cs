using Snapshotter.Cache;
using Containerd.Services.Snapshots.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Snapshotter.Snapshots;
using ProtoMount = Containerd.Types.Mount;

namespace Snapshotter.Daemon;

/// <summary>
/// containerd's snapshots API as a thin translation of protobuf to <see cref="ISnapshotter"/>.
/// Errors are not handled here: <see cref="SnapshotErrorInterceptor"/> maps them to status codes.
/// The <c>snapshotter</c> field of requests names the proxy plugin on containerd's side; one daemon serves one.
/// </summary>
internal sealed class SnapshotsService(ISnapshotter snapshotter, IChunkCache cache) : Containerd.Services.Snapshots.V1.Snapshots.SnapshotsBase
{
    private const int ListBatchSize = 100;

    private static readonly Empty EmptyReply = new();

    public override async Task<PrepareSnapshotResponse> Prepare(PrepareSnapshotRequest request, ServerCallContext context)
    {
        var mounts = await snapshotter.PrepareAsync(request.Key, request.Parent, request.Labels, context.CancellationToken);
        return new PrepareSnapshotResponse { Mounts = { mounts.Select(ToProto) } };
    }

    public override async Task<ViewSnapshotResponse> View(ViewSnapshotRequest request, ServerCallContext context)
    {
        var mounts = await snapshotter.ViewAsync(request.Key, request.Parent, request.Labels, context.CancellationToken);
        return new ViewSnapshotResponse { Mounts = { mounts.Select(ToProto) } };
    }

    public override async Task<MountsResponse> Mounts(MountsRequest request, ServerCallContext context)
    {
        var mounts = await snapshotter.MountsAsync(request.Key, context.CancellationToken);
        return new MountsResponse { Mounts = { mounts.Select(ToProto) } };
    }

    public override async Task<Empty> Commit(CommitSnapshotRequest request, ServerCallContext context)
    {
        await snapshotter.CommitAsync(request.Name, request.Key, request.Labels, context.CancellationToken);
        return EmptyReply;
    }

    public override async Task<Empty> Remove(RemoveSnapshotRequest request, ServerCallContext context)
    {
        await snapshotter.RemoveAsync(request.Key, context.CancellationToken);
        return EmptyReply;
    }

    public override async Task<StatSnapshotResponse> Stat(StatSnapshotRequest request, ServerCallContext context) =>
        new() { Info = ToProto(await snapshotter.StatAsync(request.Key, context.CancellationToken)) };

    public override async Task<UpdateSnapshotResponse> Update(UpdateSnapshotRequest request, ServerCallContext context)
    {
        var info = request.Info ?? throw new SnapshotException(SnapshotError.InvalidArgument, "update needs info with a snapshot name");
        var requested = new SnapshotInfo(info.Name, info.Parent, SnapshotKind.Active, default, default, info.Labels);
        var paths = request.UpdateMask?.Paths.ToList() ?? [];
        return new UpdateSnapshotResponse { Info = ToProto(await snapshotter.UpdateAsync(requested, paths, context.CancellationToken)) };
    }

    public override async Task List(ListSnapshotsRequest request, IServerStreamWriter<ListSnapshotsResponse> responseStream, ServerCallContext context)
    {
        var infos = await snapshotter.ListAsync(request.Filters, context.CancellationToken);
        foreach (var batch in infos.Chunk(ListBatchSize))
        {
            await responseStream.WriteAsync(new ListSnapshotsResponse { Info = { batch.Select(ToProto) } }, context.CancellationToken);
        }
    }

    public override async Task<UsageResponse> Usage(UsageRequest request, ServerCallContext context)
    {
        var usage = await snapshotter.UsageAsync(request.Key, context.CancellationToken);
        return new UsageResponse { Size = usage.Size, Inodes = usage.Inodes };
    }

    public override async Task<Empty> Cleanup(CleanupRequest request, ServerCallContext context)
    {
        await snapshotter.CleanupAsync(context.CancellationToken);
        // containerd calls Cleanup after its GC removed snapshots: their layers' chunks are now collectable.
        await cache.CollectAsync(context.CancellationToken);
        return EmptyReply;
    }

    private static ProtoMount ToProto(SnapshotMount mount) =>
        new() { Type = mount.Type, Source = mount.Source, Options = { mount.Options } };

    private static Info ToProto(SnapshotInfo info) => new()
    {
        Name = info.Name,
        Parent = info.Parent,
        Kind = info.Kind switch
        {
            SnapshotKind.View => Kind.View,
            SnapshotKind.Active => Kind.Active,
            _ => Kind.Committed,
        },
        CreatedAt = Timestamp.FromDateTimeOffset(info.Created),
        UpdatedAt = Timestamp.FromDateTimeOffset(info.Updated),
        Labels = { info.Labels.ToDictionary() },
    };
}
