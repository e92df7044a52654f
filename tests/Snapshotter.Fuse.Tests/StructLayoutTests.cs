using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse.Tests;

/// <summary>Wire structs against the sizes and offsets of linux/fuse.h (x86_64 and arm64 alike).</summary>
public class StructLayoutTests
{
    [Fact]
    public void Sizes_match_fuse_h()
    {
        Assert.Equal(40, Unsafe.SizeOf<FuseInHeader>());
        Assert.Equal(FuseInHeader.Size, Unsafe.SizeOf<FuseInHeader>());
        Assert.Equal(16, Unsafe.SizeOf<FuseOutHeader>());
        Assert.Equal(88, Unsafe.SizeOf<FuseAttr>());
        Assert.Equal(128, Unsafe.SizeOf<FuseEntry>());
        Assert.Equal(104, Unsafe.SizeOf<FuseAttrOut>());
        Assert.Equal(80, Unsafe.SizeOf<FuseStatFs>());
        Assert.Equal(64, Unsafe.SizeOf<FuseInitIn>());
        Assert.Equal(64, Unsafe.SizeOf<FuseInitOut>());
        Assert.Equal(8, Unsafe.SizeOf<FuseForgetIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseForgetOne>());
        Assert.Equal(8, Unsafe.SizeOf<FuseBatchForgetIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseGetAttrIn>());
        Assert.Equal(8, Unsafe.SizeOf<FuseOpenIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseOpenOut>());
        Assert.Equal(24, Unsafe.SizeOf<FuseReleaseIn>());
        Assert.Equal(24, Unsafe.SizeOf<FuseFlushIn>());
        Assert.Equal(40, Unsafe.SizeOf<FuseReadIn>());
        Assert.Equal(8, Unsafe.SizeOf<FuseGetXattrIn>());
        Assert.Equal(8, Unsafe.SizeOf<FuseGetXattrOut>());
        Assert.Equal(8, Unsafe.SizeOf<FuseAccessIn>());
        Assert.Equal(8, Unsafe.SizeOf<FuseInterruptIn>());
        Assert.Equal(24, Unsafe.SizeOf<FuseLSeekIn>());
        Assert.Equal(8, Unsafe.SizeOf<FuseLSeekOut>());
        Assert.Equal(24, Unsafe.SizeOf<FuseDirent>());
        Assert.Equal(24, Unsafe.SizeOf<FuseNotifyInvalInodeOut>());
        Assert.Equal(16, Unsafe.SizeOf<FuseNotifyInvalEntryOut>());
        Assert.Equal(16, Unsafe.SizeOf<FuseBackingMap>());
    }

    [Fact]
    public void Offsets_match_fuse_h()
    {
        Assert.Equal(24, Offset<FuseInHeader>(nameof(FuseInHeader.Uid)));
        Assert.Equal(36, Offset<FuseInHeader>(nameof(FuseInHeader.TotalExtLength)));
        Assert.Equal(60, Offset<FuseAttr>(nameof(FuseAttr.Mode)));
        Assert.Equal(40, Offset<FuseEntry>(nameof(FuseEntry.Attr)));
        Assert.Equal(16, Offset<FuseAttrOut>(nameof(FuseAttrOut.Attr)));
        Assert.Equal(16, Offset<FuseInitIn>(nameof(FuseInitIn.Flags2)));
        Assert.Equal(20, Offset<FuseInitOut>(nameof(FuseInitOut.MaxWrite)));
        Assert.Equal(28, Offset<FuseInitOut>(nameof(FuseInitOut.MaxPages)));
        Assert.Equal(32, Offset<FuseInitOut>(nameof(FuseInitOut.Flags2)));
        Assert.Equal(36, Offset<FuseInitOut>(nameof(FuseInitOut.MaxStackDepth)));
        Assert.Equal(12, Offset<FuseOpenOut>(nameof(FuseOpenOut.BackingId)));
        Assert.Equal(16, Offset<FuseReadIn>(nameof(FuseReadIn.Size)));
        Assert.Equal(FuseDirent.NameOffset, Unsafe.SizeOf<FuseDirent>());
    }

    [Fact]
    public void Ioctl_numbers_match_the_IOR_IOW_encoding()
    {
        Assert.Equal((nuint)0x8004E500, FuseConstants.DevIocClone);
        Assert.Equal((nuint)0x4010E501, FuseConstants.DevIocBackingOpen);
        Assert.Equal((nuint)0x4004E502, FuseConstants.DevIocBackingClose);
    }

    [Fact]
    public void Opcodes_and_flags_match_fuse_h()
    {
        Assert.Equal(26u, (uint)FuseOpcode.Init);
        Assert.Equal(44u, (uint)FuseOpcode.ReadDirPlus);
        Assert.Equal(46u, (uint)FuseOpcode.LSeek);
        Assert.Equal(1UL << 22, (ulong)FuseInitFlags.MaxPages);
        Assert.Equal(1UL << 37, (ulong)FuseInitFlags.Passthrough);
        Assert.Equal(1u << 7, (uint)FuseOpenFlags.Passthrough);
    }

    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
