using System.Runtime.InteropServices;

namespace Snapshotter.Fuse.Protocol;

// Wire structs of linux/fuse.h, field for field; sizes are asserted in the tests.
#pragma warning disable CA1823, IDE0051, CS0649 // padding fields exist for layout only

[StructLayout(LayoutKind.Sequential)]
internal struct FuseInHeader
{
    public const int Size = 40;
    public uint Length;
    public FuseOpcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtLength;
    public ushort Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseOutHeader
{
    public const int Size = 16;
    public uint Length;
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseInitIn
{
    /// <summary>Size before protocol 7.36 added flags2 and the reserved words.</summary>
    public const int CompatSize = 16;
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
    public fixed uint Unused[11];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseInitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public uint MaxStackDepth;
    public fixed uint Unused[6];
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseForgetIn
{
    public ulong NLookup;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseForgetOne
{
    public ulong NodeId;
    public ulong NLookup;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseBatchForgetIn
{
    public uint Count;
    public uint Dummy;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseGetAttrIn
{
    public uint GetAttrFlags;
    public uint Dummy;
    public ulong Fh;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseOpenIn
{
    public uint Flags;
    public uint OpenFlags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseOpenOut
{
    public ulong Fh;
    public FuseOpenFlags OpenFlags;
    /// <summary>Padding before 7.40; the passthrough backing id since.</summary>
    public int BackingId;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseReleaseIn
{
    public ulong Fh;
    public uint Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseFlushIn
{
    public ulong Fh;
    public uint Unused;
    public uint Padding;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseGetXattrIn
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseGetXattrOut
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseAccessIn
{
    public uint Mask;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseInterruptIn
{
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLSeekIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Whence;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLSeekOut
{
    public ulong Offset;
}

/// <summary>The fixed part of struct fuse_dirent; the name follows, the record is padded to 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseDirent
{
    public const int NameOffset = 24;
    public ulong Ino;
    public ulong Off;
    public uint NameLength;
    public uint Type;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseNotifyInvalInodeOut
{
    public ulong Ino;
    public long Offset;
    public long Length;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseNotifyStoreOut
{
    public ulong NodeId;
    public long Offset;
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseNotifyInvalEntryOut
{
    public ulong Parent;
    public uint NameLength;
    public uint Flags;
}

/// <summary>Argument of FUSE_DEV_IOC_BACKING_OPEN (7.40).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseBackingMap
{
    public int Fd;
    public uint Flags;
    public ulong Padding;
}

/// <summary>Protocol constants: versions, ioctl numbers, limits.</summary>
internal static class FuseConstants
{
    public const uint KernelVersion = 7;
    /// <summary>The highest minor version whose structures this library knows (7.40: passthrough).</summary>
    public const uint MaxMinorVersion = 40;
    /// <summary>The first minor version with INIT_EXT / flags2.</summary>
    public const uint MinMinorVersion = 12;
    public const ulong RootId = 1;
    public const int MinReadBuffer = 8192;
    public const int PageSize = 4096;
    public const ulong InterruptRequestBit = 1;

    private const uint IocMagic = 229;
    private const uint IocWrite = 1;
    private const uint IocRead = 2;

    /// <summary>_IOR(229, 0, uint32_t)</summary>
    public static readonly nuint DevIocClone = Ioc(IocRead, 0, sizeof(uint));
    /// <summary>_IOW(229, 1, struct fuse_backing_map)</summary>
    public static readonly nuint DevIocBackingOpen = Ioc(IocWrite, 1, 16);
    /// <summary>_IOW(229, 2, uint32_t)</summary>
    public static readonly nuint DevIocBackingClose = Ioc(IocWrite, 2, sizeof(uint));

    private static nuint Ioc(uint direction, uint number, uint size) =>
        (nuint)((direction << 30) | (size << 16) | (IocMagic << 8) | number);
}
