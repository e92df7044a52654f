using Containerd.Services.Content.V1;
using Google.Protobuf;
using Grpc.Core;
using Snapshotter.Oci;

namespace Snapshotter.Containerd;

/// <summary>
/// The bytes of one content Write stream: buffered into messages of <see cref="MessageSize"/>,
/// each answered by containerd before the next is sent. containerd accepts writes at the current
/// offset or at 0 (start again), so the stream can only be rewound to its start.
/// </summary>
internal sealed class ContentWriteStream(
    AsyncDuplexStreamingCall<WriteContentRequest, WriteContentResponse> call, Connection connection, string what,
    IProgress<long>? progress, CancellationToken cancellationToken) : Stream
{
    public const int MessageSize = 1 << 20;

    private readonly byte[] _buffer = new byte[MessageSize];
    private int _buffered;
    private long _sent;

    public override bool CanRead => false;

    public override bool CanSeek => true;

    public override bool CanWrite => true;

    public override long Length => _sent + _buffered;

    public override long Position
    {
        get => Length;
        set => Rewind(value);
    }

    /// <summary>Opens the ingest and declares what it must become; AlreadyExists comes back here if containerd has it.</summary>
    public Task StartAsync(string reference, Descriptor descriptor) => SendAsync(new WriteContentRequest
    {
        Action = WriteAction.Stat,
        Ref = reference,
        Total = descriptor.Size,
        Expected = descriptor.Digest.Value,
    });

    public async Task CommitAsync(Descriptor descriptor, IReadOnlyDictionary<string, string>? labels)
    {
        var request = DataRequest(WriteAction.Commit);
        request.Total = descriptor.Size;
        request.Expected = descriptor.Digest.Value;
        request.Labels.AddAll(labels);
        var response = await SendAsync(request).ConfigureAwait(false);
        if (response.Digest != descriptor.Digest.Value)
        {
            throw new ContainerdException(ContainerdError.FailedPrecondition, $"{what}: containerd committed {response.Digest}");
        }
        progress?.Report(_sent);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
    }

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken token = default)
    {
        while (!buffer.IsEmpty)
        {
            var take = Math.Min(buffer.Length, _buffer.Length - _buffered);
            buffer.Span[..take].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += take;
            buffer = buffer[take..];
            if (_buffered == _buffer.Length)
            {
                await SendAsync(DataRequest(WriteAction.Write)).ConfigureAwait(false);
                progress?.Report(_sent);
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken token) =>
        WriteAsync(buffer.AsMemory(offset, count), token).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Rewind(origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Length + offset,
            _ => Length + offset,
        });
        return Length;
    }

    public override void SetLength(long value) => Rewind(value);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("a content write stream is write-only");

    private void Rewind(long position)
    {
        if (position == Length)
        {
            return;
        }
        if (position != 0)
        {
            throw new NotSupportedException($"{what}: a content write can only start again from 0, not at {position}");
        }
        // The next message writes at offset 0, which makes containerd drop what it has.
        _buffered = 0;
        _sent = 0;
    }

    private WriteContentRequest DataRequest(WriteAction action)
    {
        var request = new WriteContentRequest
        {
            Action = action,
            Offset = _sent,
            Data = ByteString.CopyFrom(_buffer, 0, _buffered),
        };
        _sent += _buffered;
        _buffered = 0;
        return request;
    }

    private async Task<WriteContentResponse> SendAsync(WriteContentRequest request)
    {
        try
        {
            try
            {
                await call.RequestStream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // containerd already ended the call (e.g. AlreadyExists): reading the answer surfaces its status.
                await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false);
                throw;
            }
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                throw new ContainerdException(ContainerdError.Unknown, $"{what}: containerd ended the write stream");
            }
            return call.ResponseStream.Current;
        }
        catch (RpcException e)
        {
            throw connection.Translate(e, what, cancellationToken);
        }
    }
}
