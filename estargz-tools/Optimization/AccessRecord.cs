using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Snapshotter.Oci;

namespace Estargz.Tools.Optimization;

/// <summary>One recorded access: a path of a layer, in the JSON-lines form of <c>ctr-remote optimize --record-out</c>.</summary>
internal sealed record AccessEntry(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("manifestDigest"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ManifestDigest = null,
    [property: JsonPropertyName("layerIndex"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? LayerIndex = null);

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(AccessEntry))]
internal sealed partial class AccessRecordJson : JsonSerializerContext;

/// <summary>
/// The files a workload used first, per layer (index 0 is the bottom layer), in first-use order.
/// Written as JSON lines (<c>{"path":…,"manifestDigest":…,"layerIndex":…}</c>, what
/// <c>ctr-remote optimize --record-out</c> writes and <c>nerdctl image convert --estargz-record-in</c>
/// reads); read from that form or from a plain list of paths, one per line, which applies to every layer.
/// </summary>
internal sealed class AccessRecord(IReadOnlyList<AccessEntry> entries)
{
    public IReadOnlyList<AccessEntry> Entries { get; } = entries;

    /// <summary>The prioritized files of layer <paramref name="layerIndex"/>: its own entries and those that name no layer, each once.</summary>
    public IReadOnlyList<string> For(int layerIndex) =>
        Entries.Where(e => e.LayerIndex is null || e.LayerIndex == layerIndex).Select(e => e.Path).Distinct(StringComparer.Ordinal).ToList();

    public static AccessRecord FromLayers(Digest manifest, IReadOnlyList<IReadOnlyList<string>> pathsPerLayer) =>
        new(pathsPerLayer.SelectMany((paths, index) => paths.Select(path => new AccessEntry(path, manifest.Value, index))).ToList());

    public async Task WriteAsync(string path, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        foreach (var entry in Entries)
        {
            text.Append(JsonSerializer.Serialize(entry, AccessRecordJson.Default.AccessEntry)).Append('\n');
        }
        await File.WriteAllTextAsync(path, text.ToString(), cancellationToken);
    }

    public static async Task<AccessRecord> ReadAsync(string path, CancellationToken cancellationToken)
    {
        var lines = (await File.ReadAllLinesAsync(path, cancellationToken))
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToList();
        var entries = new List<AccessEntry>(lines.Count);
        foreach (var (line, number) in lines.Select((line, i) => (line, i + 1)))
        {
            if (!line.StartsWith('{'))
            {
                entries.Add(new AccessEntry(line));
                continue;
            }
            var entry = JsonSerializer.Deserialize(line, AccessRecordJson.Default.AccessEntry);
            if (entry is null || string.IsNullOrEmpty(entry.Path) || entry.LayerIndex < 0)
            {
                throw new FormatException($"{path}: line {number} is not a record entry {{\"path\": …, \"layerIndex\": …}}");
            }
            entries.Add(entry);
        }
        return new AccessRecord(entries);
    }
}
