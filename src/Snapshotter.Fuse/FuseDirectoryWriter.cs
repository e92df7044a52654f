using System.Runtime.InteropServices;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse;

/// <summary>Packs READDIR (fuse_dirent) or READDIRPLUS (fuse_direntplus) records into a reply buffer.</summary>
public ref struct FuseDirectoryWriter
{
    private static readonly int EntrySize = Marshal.SizeOf<FuseEntry>();
    private readonly Span<byte> _buffer;

    internal FuseDirectoryWriter(Span<byte> buffer, bool isPlus)
    {
        _buffer = buffer;
        IsPlus = isPlus;
        Length = 0;
    }

    /// <summary>True for READDIRPLUS: entries carry full attributes and count as lookups.</summary>
    public readonly bool IsPlus { get; }

    /// <summary>Bytes written so far.</summary>
    public int Length { get; private set; }

    /// <summary>
    /// Adds one entry whose successor starts at <paramref name="nextOffset"/>; false (and nothing
    /// written) when the reply is full. Without plus, only <c>entry.Attr.Ino</c> and the file type
    /// of <c>entry.Attr.Mode</c> are used.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> name, in FuseEntry entry, long nextOffset)
    {
        var head = IsPlus ? EntrySize : 0;
        var recordLength = Align8(head + FuseDirent.NameOffset + name.Length);
        if (name.Length == 0 || Length + recordLength > _buffer.Length)
        {
            return false;
        }
        var record = _buffer.Slice(Length, recordLength);
        if (IsPlus)
        {
            MemoryMarshal.Write(record, in entry);
        }
        var dirent = record[head..];
        var fixedPart = new FuseDirent
        {
            Ino = entry.Attr.Ino,
            Off = (ulong)nextOffset,
            NameLength = (uint)name.Length,
            Type = entry.Attr.DirentType,
        };
        MemoryMarshal.Write(dirent, in fixedPart);
        name.CopyTo(dirent[FuseDirent.NameOffset..]);
        dirent[(FuseDirent.NameOffset + name.Length)..].Clear();
        Length += recordLength;
        return true;
    }

    private static int Align8(int value) => (value + 7) & ~7;
}
