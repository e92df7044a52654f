namespace Snapshotter.Estargz.Tests;

/// <summary>An in-memory blob that records every read, to check how many round trips opening costs.</summary>
internal sealed class CountingBlobSource(byte[] blob) : IBlobSource
{
    private readonly MemoryBlobSource _inner = new(blob);

    public List<(long Offset, int Length)> Reads { get; } = [];

    public long Size => _inner.Size;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        lock (Reads)
        {
            Reads.Add((offset, destination.Length));
        }
        return _inner.ReadAsync(offset, destination, cancellationToken);
    }
}
