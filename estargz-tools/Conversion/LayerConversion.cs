using System.Text.Json.Serialization;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>What happened to one layer: converted, or kept because it already was eStargz; and how it reached the target.</summary>
internal sealed record LayerConversion(
    Digest Source,
    Digest Target,
    long SourceSize,
    long TargetSize,
    Digest TocDigest,
    Digest DiffId,
    long UncompressedSize,
    bool Converted,
    double Seconds)
{
    /// <summary>Stored, skipped (the target had it) or mounted; absent for a single layer file.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public BlobStore? Store { get; init; }

    /// <summary>eStargz or zstd:chunked: which media type and annotations the layer's descriptor gets.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<EstargzFormat>))]
    public EstargzFormat Format { get; init; } = EstargzFormat.Estargz;

    /// <summary>Where a converted zstd:chunked layer keeps its TOC (its containers/storage annotations); null otherwise.</summary>
    [JsonIgnore]
    public ZstdChunkedToc? ZstdChunkedToc { get; init; }

    /// <summary>What a snapshotter prefetches of a converted layer (<see cref="PrefetchHint"/>); empty for a kept one, whose annotations stay as they were.</summary>
    [JsonIgnore]
    public IReadOnlyList<BlobSpan> PrefetchSpans { get; init; } = [];

    /// <summary>Where a converted layer's TOC begins (<see cref="TocOffsetHint"/>); 0 for a kept one.</summary>
    [JsonIgnore]
    public long TocOffset { get; init; }
}

/// <summary>The outcome of converting images, for the <c>--json</c> summary.</summary>
internal sealed record ImageConversion(
    string Source,
    string Target,
    Digest? Digest,
    LayerCounts Layers,
    IReadOnlyList<ManifestConversion> Manifests,
    double Seconds);

internal sealed record ManifestConversion(
    Digest Source,
    Digest Target,
    string? Platform,
    IReadOnlyList<LayerConversion> Layers);

/// <summary>Distinct layers by what happened to them: converted or kept; stored, skipped or mounted.</summary>
internal sealed record LayerCounts(int Converted, int Kept, int Stored, int Skipped, int Mounted)
{
    public static LayerCounts Of(IEnumerable<ManifestConversion> manifests)
    {
        var layers = manifests.SelectMany(m => m.Layers).DistinctBy(l => (l.Source, l.Target)).ToList();
        return new LayerCounts(
            layers.Count(l => l.Converted),
            layers.Count(l => !l.Converted),
            layers.Count(l => l.Store == BlobStore.Stored),
            layers.Count(l => l.Store == BlobStore.Skipped),
            layers.Count(l => l.Store == BlobStore.Mounted));
    }
}
