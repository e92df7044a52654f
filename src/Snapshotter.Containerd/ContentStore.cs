using Containerd.Services.Content.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Snapshotter.Oci;

namespace Snapshotter.Containerd;

/// <summary>containerd's content store in the client's namespace.</summary>
public sealed class ContentStore
{
    private readonly Connection _connection;
    private readonly Content.ContentClient _client;

    internal ContentStore(Connection connection)
    {
        _connection = connection;
        _client = new Content.ContentClient(connection.Invoker);
    }

    /// <summary>The blob's info, or null when the namespace has no such blob.</summary>
    public async Task<ContentInfo?> InfoAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await _connection.CallAsync($"content info {digest}",
                _client.InfoAsync(new InfoRequest { Digest = digest.Value }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
            return FromProto(response.Info);
        }
        catch (ContainerdException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    /// <summary>Sets (or, with an empty value, removes) the given labels and leaves the others as they are.</summary>
    public async Task<ContentInfo> SetLabelsAsync(Digest digest, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var info = new Info { Digest = digest.Value };
        var mask = new FieldMask();
        foreach (var (key, value) in labels)
        {
            if (value.Length > 0)
            {
                info.Labels[key] = value;
            }
            mask.Paths.Add("labels." + key);
        }
        var response = await _connection.CallAsync($"content update {digest}",
            _client.UpdateAsync(new UpdateRequest { Info = info, UpdateMask = mask }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return FromProto(response.Info);
    }

    /// <summary>Every blob matching any of <paramref name="filters"/> (containerd filter syntax; none lists all).</summary>
    public IAsyncEnumerable<ContentInfo> ListAsync(IEnumerable<string>? filters = null, CancellationToken cancellationToken = default)
    {
        var request = new ListContentRequest();
        request.Filters.AddRange(filters ?? []);
        return _connection.StreamAsync("content list", _client.List(request, cancellationToken: cancellationToken),
            response => response.Info.Select(FromProto), cancellationToken);
    }

    public Task DeleteAsync(Digest digest, CancellationToken cancellationToken = default) =>
        _connection.CallAsync($"content delete {digest}",
            _client.DeleteAsync(new DeleteContentRequest { Digest = digest.Value }, cancellationToken: cancellationToken), cancellationToken);

    /// <summary>Reads a whole blob into memory (manifests, configs); larger blobs should be streamed with <see cref="CopyToAsync"/>.</summary>
    public async Task<byte[]> ReadAllAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        using var buffer = new MemoryStream();
        await CopyToAsync(digest, buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>Streams a blob into <paramref name="destination"/>.</summary>
    public async Task CopyToAsync(Digest digest, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var call = _client.Read(new ReadContentRequest { Digest = digest.Value }, cancellationToken: cancellationToken);
        try
        {
            while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                await destination.WriteAsync(call.ResponseStream.Current.Data.Memory, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RpcException e)
        {
            throw _connection.Translate(e, $"content read {digest}", cancellationToken);
        }
    }

    /// <summary>
    /// Writes a blob under the ingest <paramref name="reference"/>: containerd checks its size and
    /// digest at commit and stores it with <paramref name="labels"/>. <paramref name="writeContent"/>
    /// writes the bytes into the stream it is given, which may be rewound to 0 to start again;
    /// <paramref name="progress"/> hears how many bytes containerd has taken.
    /// Returns false, writing nothing, when the namespace already holds the blob.
    /// </summary>
    public async Task<bool> WriteAsync(string reference, Descriptor descriptor, IReadOnlyDictionary<string, string>? labels,
        Func<Stream, CancellationToken, Task> writeContent, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(writeContent);
        var what = $"content write {descriptor.Digest}";
        var finished = false;
        try
        {
            using var call = _client.Write(cancellationToken: cancellationToken);
            await using var writer = new ContentWriteStream(call, _connection, what, progress, cancellationToken);
            // The first message declares the expected digest: containerd answers AlreadyExists before any byte is sent.
            await writer.StartAsync(reference, descriptor).ConfigureAwait(false);
            await writeContent(writer, cancellationToken).ConfigureAwait(false);
            await writer.CommitAsync(descriptor, labels).ConfigureAwait(false);
            finished = true;
            return true;
        }
        catch (ContainerdException e) when (e.IsAlreadyExists)
        {
            finished = true;
            return false;
        }
        finally
        {
            if (!finished)
            {
                await AbortQuietlyAsync(reference).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes a small blob held in memory (see <see cref="WriteAsync(string, Descriptor, IReadOnlyDictionary{string, string}?, Func{Stream, CancellationToken, Task}, IProgress{long}?, CancellationToken)"/>).</summary>
    public Task<bool> WriteAsync(string reference, Descriptor descriptor, ReadOnlyMemory<byte> content, IReadOnlyDictionary<string, string>? labels,
        CancellationToken cancellationToken = default) =>
        WriteAsync(reference, descriptor, labels, (stream, token) => stream.WriteAsync(content, token).AsTask(), progress: null, cancellationToken);

    /// <summary>Drops an unfinished ingest.</summary>
    public Task AbortAsync(string reference, CancellationToken cancellationToken = default) =>
        _connection.CallAsync($"content abort {reference}",
            _client.AbortAsync(new AbortRequest { Ref = reference }, cancellationToken: cancellationToken), cancellationToken);

    /// <summary>Drops what a failed write left (once its stream is closed, so the ingest is unlocked); it may be gone already.</summary>
    private async Task AbortQuietlyAsync(string reference)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await AbortAsync(reference, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ContainerdException or OperationCanceledException)
        {
            // Nothing was ingested, or containerd is gone: its GC drops an orphaned ingest.
        }
    }

    /// <summary>containerd's ingest ref for a descriptor, as its remotes package names them (<c>layer-sha256:…</c>).</summary>
    public static string IngestReference(Descriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var kind = MediaTypes.IsManifest(descriptor.MediaType) ? "manifest"
            : MediaTypes.IsIndex(descriptor.MediaType) ? "index"
            : MediaTypes.IsLayer(descriptor.MediaType) ? "layer"
            : MediaTypes.IsConfig(descriptor.MediaType) ? "config"
            : "unknown";
        return $"{kind}-{descriptor.Digest}";
    }

    private static ContentInfo FromProto(Info info) => new(
        Conversions.ParseDigest(info.Digest, "content info"), info.Size,
        info.CreatedAt.FromProto(), info.UpdatedAt.FromProto(), info.Labels.ToDictionary());
}
