namespace Estargz.Tools.Conversion;

/// <summary>The layer annotations a converter writes (protocols.md §4.4).</summary>
internal static class Annotations
{
    public const string TocDigest = "containerd.io/snapshot/stargz/toc.digest";
    public const string UncompressedSize = "io.containers.estargz.uncompressed-size";
}
