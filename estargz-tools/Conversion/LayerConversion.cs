using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>What happened to one layer: converted, or kept because it already was eStargz.</summary>
internal sealed record LayerConversion(
    Digest Source,
    Digest Target,
    long SourceSize,
    long TargetSize,
    Digest TocDigest,
    Digest DiffId,
    long UncompressedSize,
    bool Converted,
    double Seconds);

/// <summary>The outcome of converting one image layout, for the <c>--json</c> summary.</summary>
internal sealed record ImageConversion(
    string Source,
    string Target,
    IReadOnlyList<ManifestConversion> Manifests,
    double Seconds);

internal sealed record ManifestConversion(
    Digest Source,
    Digest Target,
    string? Platform,
    IReadOnlyList<LayerConversion> Layers);
