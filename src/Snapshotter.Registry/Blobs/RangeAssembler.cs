namespace Snapshotter.Registry.Blobs;

/// <summary>
/// The destination buffers of one ranged read and how far each is filled. Bytes arriving for any
/// blob offset (a multipart part, a single range, a whole-blob answer) are copied into every range
/// whose next missing byte they cover, so overlapping ranges and servers that coalesce or reorder
/// parts are both handled; whatever is still missing after an answer is asked for again.
/// </summary>
internal sealed class RangeAssembler
{
    private readonly Slot[] _slots;
    private readonly Action<BlobRange, int>? _filled;
    private readonly Lock _lock = new();

    /// <param name="filled">Told each time a range's filled prefix grows (under the lock, in order per range).</param>
    public RangeAssembler(IEnumerable<BlobRange> ranges, Action<BlobRange, int>? filled = null)
    {
        _slots = ranges.Where(r => r.Buffer.Length > 0).Select(r => new Slot(r)).OrderBy(s => s.Range.Offset).ToArray();
        _filled = filled;
    }

    public bool IsComplete
    {
        get
        {
            lock (_lock)
            {
                return _slots.All(s => s.Done);
            }
        }
    }

    /// <summary>Bytes still missing over all ranges (overlaps counted once per range).</summary>
    public long Missing
    {
        get
        {
            lock (_lock)
            {
                return _slots.Sum(s => s.Range.Buffer.Length - (long)s.Filled);
            }
        }
    }

    /// <summary>Copies <paramref name="data"/>, the blob bytes at <paramref name="offset"/>, where they extend a range's filled prefix.</summary>
    public void Accept(long offset, ReadOnlySpan<byte> data)
    {
        var end = offset + data.Length;
        lock (_lock)
        {
            foreach (var slot in _slots)
            {
                if (slot.Range.Offset >= end)
                {
                    break;
                }
                var next = slot.Range.Offset + slot.Filled;
                if (slot.Done || next < offset || next >= end)
                {
                    continue;
                }
                var count = (int)(Math.Min(slot.Range.End, end) - next);
                data.Slice((int)(next - offset), count).CopyTo(slot.Range.Buffer.Span[slot.Filled..]);
                slot.Filled += count;
                _filled?.Invoke(slot.Range, slot.Filled);
            }
        }
    }

    /// <summary>The missing byte spans, merged where they overlap or touch, in offset order ([start, end)).</summary>
    public List<(long Start, long End)> Pending()
    {
        var pending = new List<(long Start, long End)>();
        lock (_lock)
        {
            foreach (var slot in _slots.Where(s => !s.Done).Select(s => (Start: s.Range.Offset + s.Filled, s.Range.End)).OrderBy(p => p.Start))
            {
                if (pending.Count > 0 && slot.Start <= pending[^1].End)
                {
                    pending[^1] = (pending[^1].Start, Math.Max(pending[^1].End, slot.End));
                }
                else
                {
                    pending.Add(slot);
                }
            }
        }
        return pending;
    }

    private sealed class Slot(BlobRange range)
    {
        public BlobRange Range { get; } = range;

        public int Filled { get; set; }

        public bool Done => Filled == Range.Buffer.Length;
    }
}
