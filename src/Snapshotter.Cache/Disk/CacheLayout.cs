using Snapshotter.Oci;

namespace Snapshotter.Cache.Disk;

/// <summary>
/// Paths under the cache root:
/// <code>
/// chunks/&lt;layer-hex&gt;/&lt;chunk-hex&gt;          one verified chunk, its content only
/// tmp/&lt;instance&gt;.&lt;n&gt;.tmp                  entries being written, renamed into chunks/
/// instances/&lt;instance&gt;.lock             flock-held while that cache instance is open
/// instances/&lt;instance&gt;.layers           the layers that instance leases, one digest a line
/// </code>
/// One directory per layer makes <see cref="IChunkCache.ForgetLayer"/> one recursive delete and
/// a scan one directory read per layer. There is no further fan-out by hash prefix: ext4 and xfs
/// index large directories, and with 4 MiB chunks most layers hold few entries, where 256
/// subdirectories each would make the scan at open several times slower (CacheIndexBenchmarks).
/// tmp/ sits on the same filesystem as chunks/, so the rename that publishes an entry is atomic.
/// </summary>
internal sealed class CacheLayout
{
    public CacheLayout(string root)
    {
        Root = Path.GetFullPath(root);
        Chunks = Path.Combine(Root, "chunks");
        Temp = Path.Combine(Root, "tmp");
        Instances = Path.Combine(Root, "instances");
    }

    public string Root { get; }

    public string Chunks { get; }

    public string Temp { get; }

    public string Instances { get; }

    public void CreateDirectories()
    {
        Directory.CreateDirectory(Chunks);
        Directory.CreateDirectory(Temp);
        Directory.CreateDirectory(Instances);
    }

    public string LayerDirectory(Digest layer) => Path.Combine(Chunks, layer.Hex);

    /// <summary>The entry's path, built in one allocation (it is made on every disk read).</summary>
    public string EntryPath(in ChunkKey key)
    {
        return Path.Join(Chunks, HexOf(key.Layer), HexOf(key.Chunk));
    }

    private static ReadOnlySpan<char> HexOf(Digest digest) => digest.Value.AsSpan(digest.Value.IndexOf(':', StringComparison.Ordinal) + 1);

    /// <summary>The digest a directory or file name under chunks/ stands for, if it is one.</summary>
    public static bool TryParseName(string name, out Digest digest) =>
        Digest.TryParse(Digest.Sha256Algorithm + ":" + name, out digest);
}
