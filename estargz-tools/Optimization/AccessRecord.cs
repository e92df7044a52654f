using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Optimization;

/// <summary>
/// One recorded access: a path of a layer, in the JSON-lines form of <c>ctr-remote optimize
/// --record-out</c>, plus (our addition, which Go readers ignore) the byte ranges of the file the
/// workload read as <c>[offset, length]</c> pairs: empty when it only looked the path up, absent when not recorded.
/// </summary>
internal sealed record AccessEntry(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("manifestDigest"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ManifestDigest = null,
    [property: JsonPropertyName("layerIndex"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? LayerIndex = null,
    [property: JsonPropertyName("ranges"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<long[]>? Ranges = null);

/// <summary>What a workload used of one layer: paths in first-use order, and the byte ranges read of each file read (null if not recorded).</summary>
internal sealed record LayerAccesses(IReadOnlyList<string> Paths, IReadOnlyDictionary<string, IReadOnlyList<FileRange>>? Reads);

/// <summary>A line of the snapshotter's <c>.stargz-snapshotter/reads.json</c>.</summary>
internal sealed record ReadLogLine(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("ranges")] IReadOnlyList<long[]> Ranges);

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(AccessEntry))]
[JsonSerializable(typeof(ReadLogLine))]
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

    /// <summary>
    /// The byte ranges read of each file of layer <paramref name="layerIndex"/>, or null when no entry
    /// that applies to it records ranges (a plain list, or ctr-remote's record).
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<FileRange>>? ReadsFor(int layerIndex)
    {
        var entries = Entries.Where(e => (e.LayerIndex is null || e.LayerIndex == layerIndex) && e.Ranges is not null).ToList();
        if (entries.Count == 0)
        {
            return null;
        }
        var reads = new Dictionary<string, IReadOnlyList<FileRange>>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var ranges = entry.Ranges!.Select(pair => new FileRange(pair[0], pair[1]));
            reads[entry.Path] = reads.TryGetValue(entry.Path, out var earlier) ? [.. earlier, .. ranges] : [.. ranges];
        }
        return reads;
    }

    public static AccessRecord FromLayers(Digest manifest, IReadOnlyList<LayerAccesses> layers) =>
        new(layers.SelectMany((layer, index) => EntriesOf(manifest, index, layer)).ToList());

    private static IEnumerable<AccessEntry> EntriesOf(Digest manifest, int index, LayerAccesses layer)
    {
        // Every file read was looked up first, so it is among the paths; a read path that is not still counts.
        var paths = layer.Reads is null ? layer.Paths : layer.Paths.Concat(layer.Reads.Keys.Except(layer.Paths, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            IReadOnlyList<long[]>? ranges = layer.Reads is null ? null
                : layer.Reads.TryGetValue(path, out var read) ? read.Select(r => new[] { r.Offset, r.Length }).ToList() : [];
            yield return new AccessEntry(path, manifest.Value, index, ranges);
        }
    }

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
            if (entry.Ranges?.Any(pair => pair is not [>= 0, >= 0]) == true)
            {
                throw new FormatException($"{path}: line {number}: \"ranges\" must hold [offset, length] pairs of non-negative numbers");
            }
            entries.Add(entry);
        }
        return new AccessRecord(entries);
    }
}
