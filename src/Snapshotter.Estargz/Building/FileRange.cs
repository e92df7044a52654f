namespace Snapshotter.Estargz;

/// <summary><see cref="Length"/> bytes from <see cref="Offset"/> of a file's uncompressed content.</summary>
public readonly record struct FileRange(long Offset, long Length)
{
    public long End => Offset + Length;
}
