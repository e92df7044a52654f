namespace Snapshotter.Fs;

/// <summary>Counters of one mounted layer, read by the status file and (later) the metrics endpoint. Thread-safe.</summary>
public sealed class LayerStatistics
{
    private readonly TaskCompletionSource _fullyLocal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LayerStatistics(long compressedBytes = 0)
    {
        CompressedBytes = compressedBytes;
        if (compressedBytes <= 0)
        {
            _fullyLocal.TrySetResult();
        }
    }

    /// <summary>Compressed bytes of all the layer's chunk members: <see cref="FetchedBytes"/> when fully local.</summary>
    public long CompressedBytes { get; }

    /// <summary>Whether every chunk member is local (fetched, or found in the cache).</summary>
    public bool IsFullyLocal => FetchedBytes >= CompressedBytes;

    /// <summary>Completes when <see cref="IsFullyLocal"/> becomes true.</summary>
    public Task FullyLocal => _fullyLocal.Task;

    private long _fetchedBytes;
    private long _blobReads;
    private long _chunksDecompressed;
    private long _verificationFailures;
    private long _readFailures;
    private long _readRequests;

    /// <summary>Compressed bytes of distinct chunk members local so far: fetched, or found in the cache.</summary>
    public long FetchedBytes => Interlocked.Read(ref _fetchedBytes);

    /// <summary>Reads issued to the <see cref="IBlob"/> (one per chunk member fetched, repeats included).</summary>
    public long BlobReads => Interlocked.Read(ref _blobReads);

    public long ChunksDecompressed => Interlocked.Read(ref _chunksDecompressed);

    /// <summary>Chunks whose bytes did not decompress or did not match their TOC digest (answered EIO).</summary>
    public long VerificationFailures => Interlocked.Read(ref _verificationFailures);

    /// <summary>Chunk fetches that failed for any other reason (the blob could not be read).</summary>
    public long ReadFailures => Interlocked.Read(ref _readFailures);

    /// <summary>READ requests that reached user space (page-cache hits and passthrough reads never do).</summary>
    public long ReadRequests => Interlocked.Read(ref _readRequests);

    internal void AddReadRequest() => Interlocked.Increment(ref _readRequests);

    internal void AddFetched(long bytes)
    {
        if (Interlocked.Add(ref _fetchedBytes, bytes) >= CompressedBytes)
        {
            _fullyLocal.TrySetResult();
        }
    }

    internal void AddBlobRead() => Interlocked.Increment(ref _blobReads);

    internal void AddDecompressed() => Interlocked.Increment(ref _chunksDecompressed);

    internal void AddVerificationFailure() => Interlocked.Increment(ref _verificationFailures);

    internal void AddReadFailure() => Interlocked.Increment(ref _readFailures);
}
