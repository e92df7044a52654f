using System.Runtime.InteropServices;

namespace Snapshotter.Fuse.Protocol;

/// <summary>File attributes as the kernel takes them (struct fuse_attr, 88 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    /// <summary>512-byte blocks allocated.</summary>
    public ulong Blocks;
    public ulong ATime;
    public ulong MTime;
    public ulong CTime;
    public uint ATimeNsec;
    public uint MTimeNsec;
    public uint CTimeNsec;
    /// <summary>File type and permission bits, as st_mode (S_IFREG | 0644 ...).</summary>
    public uint Mode;
    public uint NLink;
    public uint Uid;
    public uint Gid;
    public uint RDev;
    public uint BlkSize;
    public uint Flags;

    /// <summary>The directory-entry type (DT_*) of this mode: the S_IFMT bits shifted down.</summary>
    public readonly uint DirentType => (Mode >> 12) & 0xF;
}

/// <summary>
/// The answer to LOOKUP and to each READDIRPLUS entry (struct fuse_entry_out, 128 bytes): the
/// node id the kernel will use from now on, its cache timeouts and its attributes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseEntry
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;

    /// <summary>Sets how long the kernel may cache the name and the attributes.</summary>
    public void SetTimeouts(TimeSpan entry, TimeSpan attributes)
    {
        (EntryValid, EntryValidNsec) = Split(entry);
        (AttrValid, AttrValidNsec) = Split(attributes);
    }

    internal static (ulong Seconds, uint Nanoseconds) Split(TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            return (0, 0);
        }
        var ticks = value.Ticks;
        return ((ulong)(ticks / TimeSpan.TicksPerSecond), (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }
}

/// <summary>File system statistics (struct fuse_kstatfs, 80 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseStatFs
{
    public ulong Blocks;
    public ulong BlocksFree;
    public ulong BlocksAvailable;
    public ulong Files;
    public ulong FilesFree;
    public uint BlockSize;
    public uint NameLength;
    public uint FragmentSize;
    private uint _padding;
    private fixed uint _spare[6];
}
