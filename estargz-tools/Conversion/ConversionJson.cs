using System.Text.Json.Serialization;
using Snapshotter.Oci;

namespace Estargz.Tools.Conversion;

/// <summary>The <c>--json</c> output shapes, camelCase, for CI pipelines.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    Converters = [typeof(DigestJsonConverter)])]
[JsonSerializable(typeof(ImageConversion))]
[JsonSerializable(typeof(LayerConversion))]
[JsonSerializable(typeof(VerificationSummary))]
[JsonSerializable(typeof(OptimizeSummary))]
[JsonSerializable(typeof(List<string>))]
internal sealed partial class ConversionJson : JsonSerializerContext;

/// <summary>The <c>estargz verify --json</c> output.</summary>
internal sealed record VerificationSummary(
    string Blob,
    bool Ok,
    Digest? TocDigest,
    int Entries,
    int ChunksVerified,
    long BytesVerified,
    IReadOnlyList<string> Problems);

/// <summary>The <c>estargz optimize --json</c> output: how many accesses were recorded (or read), where the record went, and the conversion.</summary>
internal sealed record OptimizeSummary(int RecordedEntries, string? Record, ImageConversion Conversion);
