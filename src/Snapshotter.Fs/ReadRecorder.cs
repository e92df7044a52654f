using System.Text.Json;

namespace Snapshotter.Fs;

/// <summary>
/// The byte ranges of each file that reached the layer as FUSE reads (page cache misses, with the
/// kernel's read-ahead), served as <c>.stargz-snapshotter/reads.json</c>: one JSON line per file,
/// <c>{"path":…,"ranges":[[offset,length],…]}</c>, files in first-read order. <c>estargz optimize</c>
/// turns it into prefetch marks on the chunks the workload read. A read costs one short lock.
/// </summary>
internal sealed class ReadRecorder
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Node, List<(long Start, long End)>> _byNode = new(ReferenceEqualityComparer.Instance);
    private readonly List<Node> _order = [];

    public void Record(Node node, long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }
        var end = offset + length;
        lock (_lock)
        {
            if (!_byNode.TryGetValue(node, out var ranges))
            {
                _byNode[node] = [(offset, end)];
                _order.Add(node);
                return;
            }
            Add(ranges, offset, end);
        }
    }

    /// <summary>The ranges recorded for <paramref name="node"/> so far, sorted and merged.</summary>
    public IReadOnlyList<(long Start, long End)> RangesOf(Node node)
    {
        lock (_lock)
        {
            return _byNode.TryGetValue(node, out var ranges) ? [.. ranges] : [];
        }
    }

    /// <summary>The JSON lines as they are now.</summary>
    public byte[] Render()
    {
        using var buffer = new MemoryStream();
        lock (_lock)
        {
            foreach (var node in _order)
            {
                using (var json = new Utf8JsonWriter(buffer))
                {
                    json.WriteStartObject();
                    json.WriteString("path", node.Path);
                    json.WriteStartArray("ranges");
                    foreach (var (start, end) in _byNode[node])
                    {
                        json.WriteStartArray();
                        json.WriteNumberValue(start);
                        json.WriteNumberValue(end - start);
                        json.WriteEndArray();
                    }
                    json.WriteEndArray();
                    json.WriteEndObject();
                }
                buffer.WriteByte((byte)'\n');
            }
        }
        return buffer.ToArray();
    }

    /// <summary>Inserts [start, end) into the sorted, disjoint list, merging what it touches. Reads mostly extend the last range.</summary>
    private static void Add(List<(long Start, long End)> ranges, long start, long end)
    {
        var last = ranges[^1];
        if (start >= last.Start && start <= last.End)
        {
            ranges[^1] = (last.Start, Math.Max(last.End, end));
            return;
        }
        var index = 0;
        while (index < ranges.Count && ranges[index].End < start)
        {
            index++;
        }
        var merged = (Start: start, End: end);
        while (index < ranges.Count && ranges[index].Start <= merged.End)
        {
            merged = (Math.Min(merged.Start, ranges[index].Start), Math.Max(merged.End, ranges[index].End));
            ranges.RemoveAt(index);
        }
        ranges.Insert(index, merged);
    }
}
