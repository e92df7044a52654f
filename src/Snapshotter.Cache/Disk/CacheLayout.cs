using Snapshotter.Oci;

namespace Snapshotter.Cache.Disk;

/// <summary>
/// Paths under the cache root:
/// <code>
/// chunks/&lt;layer-hex&gt;/&lt;chunk-hex[0..2]&gt;/&lt;chunk-hex&gt;   one verified chunk, its content only
/// tmp/&lt;instance&gt;.&lt;n&gt;.tmp                               entries being written, renamed into chunks/
/// instances/&lt;instance&gt;.lock                          flock-held while that cache instance is open
/// instances/&lt;instance&gt;.layers                        the layers that instance leases, one digest a line
/// </code>
/// One directory per layer makes <see cref="IChunkCache.ForgetLayer"/> one recursive delete;
/// the two-hex-digit level keeps a layer of many small files from making one huge directory.
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

    public string EntryPath(in ChunkKey key)
    {
        var chunk = key.Chunk.Hex;
        return Path.Join(Chunks, key.Layer.Hex, chunk.AsSpan(0, 2), chunk);
    }

    /// <summary>The digest a directory or file name under chunks/ stands for, if it is one.</summary>
    public static bool TryParseName(string name, out Digest digest) =>
        Digest.TryParse(Digest.Sha256Algorithm + ":" + name, out digest);
}
