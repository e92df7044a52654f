using System.Buffers;
using Microsoft.Extensions.Logging;
using Snapshotter.Estargz;
using Snapshotter.Fuse;
using Snapshotter.Oci;

namespace Snapshotter.Fs;

/// <summary>
/// Verified chunk reads of one layer: the chunk store first; on a miss one fetch of the chunk's
/// compressed member through the <see cref="IBlob"/>, decompression and digest verification
/// (by the <see cref="EstargzReader"/>), then the store. Concurrent reads of one chunk share a
/// single fetch. Failures become <see cref="FuseException"/> EIO, logged and counted once.
/// </summary>
internal sealed class ChunkReader
{
    /// <summary>Chunks above this are refused: they would need one buffer of that size. The Go builder makes 4 MiB chunks.</summary>
    public const long MaxChunkSize = 64L * 1024 * 1024;

    /// <summary>Chunks fetched ahead of sequential readers at once, at most.</summary>
    public const int MaxPrefetches = 2;

    private readonly EstargzReader _reader;
    private readonly IBlob _blob;
    private readonly IChunkStore _store;
    private readonly LayerStatistics _statistics;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<Digest, Fetch> _inFlight = [];
    private readonly long[] _memberOffsets;
    private readonly long[] _fetchedMembers;
    private int _prefetches;

    public ChunkReader(EstargzReader reader, IBlob blob, IChunkStore store, long[] memberOffsets, LayerStatistics statistics, ILogger logger)
    {
        _reader = reader;
        _blob = blob;
        _store = store;
        _statistics = statistics;
        _logger = logger;
        _memberOffsets = memberOffsets;
        _fetchedMembers = new long[(memberOffsets.Length + 63) / 64];
    }

    /// <summary>Copies from the store only; false when the chunk must be fetched.</summary>
    public bool TryCopyStored(in EstargzChunk chunk, int offset, Span<byte> destination) =>
        _store.TryCopy(chunk.Digest, offset, destination);

    /// <summary>Copies <c>destination.Length</c> bytes from <paramref name="offset"/> of the verified chunk.</summary>
    public async ValueTask CopyAsync(EstargzChunk chunk, int offset, Memory<byte> destination, string path, CancellationToken cancellationToken)
    {
        Fetch fetch;
        bool owner;
        lock (_lock)
        {
            if (_store.TryCopy(chunk.Digest, offset, destination.Span))
            {
                return;
            }
            if (_inFlight.TryGetValue(chunk.Digest, out var existing))
            {
                fetch = existing;
                fetch.References++;
                owner = false;
            }
            else
            {
                fetch = new Fetch();
                _inFlight[chunk.Digest] = fetch;
                owner = true;
            }
        }
        try
        {
            if (owner)
            {
                // Not cancelled by this request's interrupt: other readers may be waiting for the same chunk.
                await RunFetchAsync(chunk, fetch, path).ConfigureAwait(false);
            }
            await fetch.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            fetch.Buffer.AsSpan(offset, destination.Length).CopyTo(destination.Span);
        }
        finally
        {
            Release(fetch);
        }
    }

    /// <summary>
    /// Starts fetching <paramref name="chunk"/> into the store in the background, unless it is
    /// there, already on its way, or <see cref="MaxPrefetches"/> are running: sequential readers
    /// then find the next chunk decompressed (on another core) by the time they reach it.
    /// </summary>
    public void Prefetch(EstargzChunk chunk, string path)
    {
        Fetch fetch;
        lock (_lock)
        {
            if (_prefetches >= MaxPrefetches || _inFlight.ContainsKey(chunk.Digest) || _store.TryCopy(chunk.Digest, 0, []))
            {
                return;
            }
            fetch = new Fetch();
            _inFlight[chunk.Digest] = fetch;
            _prefetches++;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await RunFetchAsync(chunk, fetch, path).ConfigureAwait(false);
            }
            finally
            {
                lock (_lock)
                {
                    _prefetches--;
                }
                Release(fetch);
            }
        });
    }

    private async Task RunFetchAsync(EstargzChunk chunk, Fetch fetch, string path)
    {
        try
        {
            fetch.Buffer = await FetchAsync(chunk, path).ConfigureAwait(false);
            _store.Add(chunk.Digest, fetch.Buffer.AsSpan(0, (int)chunk.Size));
            fetch.Completion.SetResult();
        }
        catch (Exception e)
        {
            fetch.Completion.SetException(e);
        }
        finally
        {
            lock (_lock)
            {
                _inFlight.Remove(chunk.Digest);
            }
        }
    }

    private async Task<byte[]> FetchAsync(EstargzChunk chunk, string path)
    {
        if (chunk.Size > MaxChunkSize || chunk.CompressedLength > MaxChunkSize * 2)
        {
            Log.ChunkTooLarge(_logger, _blob.Digest, path, chunk.FileOffset, Math.Max(chunk.Size, chunk.CompressedLength), MaxChunkSize);
            _statistics.AddReadFailure();
            throw new FuseException(Errno.EIO, $"chunk of '{path}' is too large");
        }
        var length = (int)chunk.CompressedLength;
        var compressed = ArrayPool<byte>.Shared.Rent(length);
        var output = ArrayPool<byte>.Shared.Rent((int)chunk.Size);
        try
        {
            try
            {
                _statistics.AddBlobRead();
                await _blob.ReadAsync(chunk.CompressedOffset, compressed.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _statistics.AddReadFailure();
                Log.ChunkReadFailed(_logger, _blob.Digest, path, chunk.FileOffset, e);
                throw new FuseException($"reading a chunk of '{path}' failed", e);
            }
            MarkFetched(chunk);
            try
            {
                _reader.ReadChunk(chunk, compressed.AsSpan(0, length), output);
            }
            catch (Exception e) when (e is DigestMismatchException or EstargzFormatException)
            {
                _statistics.AddVerificationFailure();
                Log.VerificationFailed(_logger, _blob.Digest, path, chunk.FileOffset, e);
                throw new FuseException($"a chunk of '{path}' failed verification", e);
            }
            _statistics.AddDecompressed();
            var result = output;
            output = null;
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
            if (output is not null)
            {
                ArrayPool<byte>.Shared.Return(output);
            }
        }
    }

    private void MarkFetched(in EstargzChunk chunk)
    {
        var index = Array.BinarySearch(_memberOffsets, chunk.CompressedOffset);
        if (index < 0)
        {
            return;
        }
        var bit = 1L << (index & 63);
        if ((Interlocked.Or(ref _fetchedMembers[index >> 6], bit) & bit) == 0)
        {
            _statistics.AddFetched(chunk.CompressedLength);
        }
    }

    private void Release(Fetch fetch)
    {
        bool last;
        lock (_lock)
        {
            last = --fetch.References == 0;
        }
        if (last && fetch.Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(fetch.Buffer);
            fetch.Buffer = [];
        }
    }

    /// <summary>One fetch in flight and the readers waiting for it; the last one to let go returns the buffer.</summary>
    private sealed class Fetch
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public byte[] Buffer { get; set; } = [];

        /// <summary>Guarded by the reader's lock.</summary>
        public int References { get; set; } = 1;
    }
}
