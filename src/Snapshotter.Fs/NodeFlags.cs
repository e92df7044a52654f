namespace Snapshotter.Fs;

/// <summary>One bit per inode number of a tree, set once and never cleared, safe across threads.</summary>
internal sealed class NodeFlags(int nodeCount)
{
    private readonly int[] _bits = new int[(nodeCount + 1 + 31) / 32];

    /// <summary>Sets the node's bit; true only for the call that set it (false when already set or out of range).</summary>
    public bool TrySet(ulong ino)
    {
        if (ino >= (ulong)_bits.Length * 32)
        {
            return false;
        }
        var word = (int)(ino / 32);
        var bit = 1 << (int)(ino % 32);
        return (Volatile.Read(ref _bits[word]) & bit) == 0 && (Interlocked.Or(ref _bits[word], bit) & bit) == 0;
    }
}
