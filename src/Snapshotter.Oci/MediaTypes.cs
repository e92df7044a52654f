namespace Snapshotter.Oci;

/// <summary>How a layer blob is compressed, as told by its media type.</summary>
public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>The OCI and Docker schema 2 media types, and what kind of content each one names.</summary>
public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>The Accept header value a resolver sends for manifests and indexes, most specific first.</summary>
    public static readonly IReadOnlyList<string> ManifestAccept = [OciManifest, DockerManifest, OciIndex, DockerManifestList];

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsConfig(string? mediaType) => mediaType is OciConfig or DockerConfig;

    public static bool IsLayer(string? mediaType) => mediaType is not null && (
        mediaType.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal) ||
        mediaType.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal));

    /// <summary>Foreign (Docker) and nondistributable (OCI) layers are not pushed to, and may not be in, the registry.</summary>
    public static bool IsNondistributable(string? mediaType) => mediaType is not null && (
        mediaType.StartsWith("application/vnd.oci.image.layer.nondistributable.", StringComparison.Ordinal) ||
        mediaType.StartsWith("application/vnd.docker.image.rootfs.foreign.", StringComparison.Ordinal));

    /// <summary>The compression of a layer media type; throws for a media type that is not a known layer.</summary>
    public static LayerCompression CompressionOf(string mediaType) => mediaType switch
    {
        OciLayer or OciLayerNondistributable or DockerLayer => LayerCompression.None,
        OciLayerGzip or OciLayerNondistributableGzip or DockerLayerGzip or DockerForeignLayerGzip => LayerCompression.Gzip,
        OciLayerZstd or OciLayerNondistributableZstd => LayerCompression.Zstd,
        _ => throw new FormatException($"'{mediaType}' is not a known layer media type"),
    };

    /// <summary>The OCI layer media type for a compression, e.g. the output type of a converter.</summary>
    public static string OciLayerFor(LayerCompression compression) => compression switch
    {
        LayerCompression.None => OciLayer,
        LayerCompression.Gzip => OciLayerGzip,
        LayerCompression.Zstd => OciLayerZstd,
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
    };
}
