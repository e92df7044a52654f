using System.Buffers.Binary;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// What opening a layer read from its blob (the footer and the TOC member) and the blob's size,
/// kept in <c>&lt;root&gt;/layers/&lt;digest&gt;.tail</c> while the layer is mounted. A restart opens the
/// layer again from it: no manifest lookup (so a moved tag does not matter) and no registry at
/// all for a layer whose chunks are all cached. Nothing here is trusted: the reader verifies the
/// TOC against the digest in the snapshot's labels, and chunks against the TOC, as always.
/// </summary>
internal sealed class LayerTails
{
    // "SGZTAIL1", blob size (u64), range count (u32), then per range: offset (u64), length (u32), bytes.
    private static readonly byte[] Magic = "SGZTAIL1"u8.ToArray();
    private const int MaxRanges = 16;

    private readonly string _directory;

    public LayerTails(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
    }

    /// <summary>The recorded tail of <paramref name="layer"/>, or null if there is none or it is unreadable (then it is deleted).</summary>
    public RecordedTail? TryLoad(Digest layer)
    {
        var path = PathOf(layer);
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentOutOfRangeException)
        {
            Delete(layer);
            return null;
        }
    }

    /// <summary>Writes the record atomically (a temporary file renamed into place).</summary>
    public void Save(Digest layer, RecordedTail tail)
    {
        var length = Magic.Length + 12 + tail.Ranges.Sum(r => 12 + r.Bytes.Length);
        var bytes = new byte[length];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), tail.Size);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(16), tail.Ranges.Count);
        var at = 20;
        foreach (var (offset, content) in tail.Ranges)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), offset);
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 8), content.Length);
            content.CopyTo(bytes, at + 12);
            at += 12 + content.Length;
        }
        var path = PathOf(layer);
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Whether a record of <paramref name="layer"/> exists (not whether it is readable).</summary>
    public bool Contains(Digest layer) => File.Exists(PathOf(layer));

    public void Delete(Digest layer) => File.Delete(PathOf(layer));

    private string PathOf(Digest layer) => Path.Combine(_directory, layer.Hex + ".tail");

    private static RecordedTail Parse(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.Length < 20 || !span[..8].SequenceEqual(Magic))
        {
            throw new InvalidDataException("not a layer tail record");
        }
        var size = BinaryPrimitives.ReadInt64LittleEndian(span[8..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[16..]);
        if (size <= 0 || count is < 1 or > MaxRanges)
        {
            throw new InvalidDataException("layer tail record out of range");
        }
        var ranges = new List<(long, byte[])>(count);
        var at = 20;
        for (var i = 0; i < count; i++)
        {
            var offset = BinaryPrimitives.ReadInt64LittleEndian(span[at..]);
            var length = BinaryPrimitives.ReadInt32LittleEndian(span[(at + 8)..]);
            if (offset < 0 || length < 0 || offset + length > size || at + 12 + length > span.Length)
            {
                throw new InvalidDataException("layer tail record out of range");
            }
            ranges.Add((offset, span.Slice(at + 12, length).ToArray()));
            at += 12 + length;
        }
        return at == span.Length ? new RecordedTail(size, ranges) : throw new InvalidDataException("trailing bytes in a layer tail record");
    }
}

/// <summary>A blob's size and the byte ranges read from it to open its reader.</summary>
internal sealed record RecordedTail(long Size, IReadOnlyList<(long Offset, byte[] Bytes)> Ranges);

/// <summary>
/// The blob a layer's reader is opened on: reads inside <see cref="RecordedTail"/> ranges are
/// answered from them, others go to the registry and are recorded, so that the next start can
/// answer them too.
/// </summary>
internal sealed class TailRecordingBlob(IBlobSource inner, RecordedTail? known) : IBlobSource
{
    private readonly List<(long Offset, byte[] Bytes)> _read = [];
    private bool _sealed;

    public long Size => inner.Size;

    /// <summary>What was read so far, for <see cref="LayerTails.Save"/>; later reads (the reader's, of chunks) are not recorded.</summary>
    public RecordedTail Seal()
    {
        lock (_read)
        {
            _sealed = true;
            return new RecordedTail(Size, [.. _read]);
        }
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        foreach (var (start, bytes) in known?.Ranges ?? [])
        {
            if (offset >= start && offset + destination.Length <= start + bytes.Length)
            {
                bytes.AsMemory((int)(offset - start), destination.Length).CopyTo(destination);
                Remember(offset, destination);
                return;
            }
        }
        await inner.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        Remember(offset, destination);
    }

    private void Remember(long offset, Memory<byte> bytes)
    {
        lock (_read)
        {
            if (!_sealed)
            {
                _read.Add((offset, bytes.ToArray()));
            }
        }
    }
}
