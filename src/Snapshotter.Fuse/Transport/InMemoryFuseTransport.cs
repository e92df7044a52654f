using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;

namespace Snapshotter.Fuse;

/// <summary>
/// A FUSE connection without a kernel, for tests: the test plays the kernel, sending raw requests
/// with <see cref="Send"/> and taking raw replies with <see cref="Receive"/>. All channels share
/// one request queue, as the clones of /dev/fuse do.
/// </summary>
public sealed class InMemoryFuseTransport : IFuseTransport, IDisposable
{
    private readonly BlockingCollection<byte[]> _requests = new();
    private readonly BlockingCollection<byte[]> _replies = new();
    private readonly CancellationTokenSource _closed = new();
    private readonly ConcurrentDictionary<int, SafeFileHandle> _backing = new();
    private int _nextBackingId;
    private int _channels;
    private int _clones;

    /// <summary>How many channels the server opened (the connection's own and its clones).</summary>
    public int ChannelsOpened => Volatile.Read(ref _channels);

    /// <summary>How many clones <see cref="OpenChannel"/> grants before failing as an old kernel would; null: any.</summary>
    public int? CloneLimit { get; init; }

    /// <summary>Backing files registered for passthrough and not yet closed, by id.</summary>
    public IReadOnlyDictionary<int, SafeFileHandle> BackingFiles => _backing;

    /// <summary>Queues one request (header and body) for the server.</summary>
    public void Send(ReadOnlySpan<byte> request) => _requests.Add(request.ToArray());

    /// <summary>The next reply or notification the server wrote, or null after <paramref name="timeout"/>.</summary>
    public byte[]? Receive(TimeSpan timeout) => _replies.TryTake(out var reply, timeout) ? reply : null;

    /// <summary>Ends the connection, as an unmount does: reads return 0 from now on.</summary>
    public void Close() => _closed.Cancel();

    public IFuseChannel OpenChannel(bool clone)
    {
        if (clone && Interlocked.Increment(ref _clones) > CloneLimit)
        {
            throw new IOException("FUSE_DEV_IOC_CLONE: not supported by this transport");
        }
        Interlocked.Increment(ref _channels);
        return new Channel(this);
    }

    public int OpenBacking(SafeFileHandle file)
    {
        if (file.IsInvalid || file.IsClosed)
        {
            return -Errno.EBADF;
        }
        var id = Interlocked.Increment(ref _nextBackingId);
        _backing[id] = file;
        return id;
    }

    public int CloseBacking(int backingId) => _backing.TryRemove(backingId, out _) ? 0 : Errno.ENOENT;

    public void Dispose()
    {
        _closed.Cancel();
        _closed.Dispose();
        _requests.Dispose();
        _replies.Dispose();
    }

    private sealed class Channel(InMemoryFuseTransport owner) : IFuseChannel
    {
        private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(owner._closed.Token);

        public int Read(Span<byte> buffer)
        {
            byte[] request;
            try
            {
                request = owner._requests.Take(_cancel.Token);
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            if (request.Length > buffer.Length)
            {
                throw new InvalidOperationException($"request of {request.Length} bytes does not fit the {buffer.Length}-byte buffer");
            }
            request.CopyTo(buffer);
            return request.Length;
        }

        public int Write(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
        {
            var reply = new byte[header.Length + payload.Length];
            header.CopyTo(reply);
            payload.CopyTo(reply.AsSpan(header.Length));
            owner._replies.Add(reply);
            return 0;
        }

        public void CancelRead() => _cancel.Cancel();

        public void Dispose() => _cancel.Dispose();
    }
}
