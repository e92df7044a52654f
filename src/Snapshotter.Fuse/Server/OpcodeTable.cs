using System.Runtime.CompilerServices;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse;

public sealed partial class FuseServer
{
    /// <summary>
    /// Handles one request: returns 0 when it has replied (or the opcode has no reply), else the
    /// errno the dispatcher answers with.
    /// </summary>
    private delegate int OpcodeHandler(FuseServer server, Reader reader, in FuseInHeader header, ReadOnlySpan<byte> body);

    /// <summary>One row of the opcode table: name, the fixed size of the request body, handler.</summary>
    private readonly record struct OpcodeEntry(string Name, int InSize, OpcodeHandler? Handler, bool NoReply = false);

    /// <summary>Opcodes that would change the file system; all answer EROFS.</summary>
    internal static readonly FuseOpcode[] WriteOpcodes =
    [
        FuseOpcode.SetAttr, FuseOpcode.Symlink, FuseOpcode.MkNod, FuseOpcode.MkDir, FuseOpcode.Unlink,
        FuseOpcode.RmDir, FuseOpcode.Rename, FuseOpcode.Link, FuseOpcode.Write, FuseOpcode.SetXattr,
        FuseOpcode.RemoveXattr, FuseOpcode.Create, FuseOpcode.FAllocate, FuseOpcode.Rename2,
        FuseOpcode.CopyFileRange, FuseOpcode.TmpFile,
    ];

    /// <summary>opcode → entry; a row without a handler answers ENOSYS.</summary>
    private static readonly OpcodeEntry[] Opcodes = BuildOpcodeTable();

    internal static string OpcodeName(uint opcode) =>
        opcode < Opcodes.Length && Opcodes[opcode].Handler is not null ? Opcodes[opcode].Name : $"OPCODE_{opcode}";

    private static OpcodeEntry[] BuildOpcodeTable()
    {
        var table = new OpcodeEntry[(int)FuseOpcode.Statx + 1];
        void Add(FuseOpcode opcode, int inSize, OpcodeHandler handler, bool noReply = false) =>
            table[(int)opcode] = new OpcodeEntry(opcode.ToString().ToUpperInvariant(), inSize, handler, noReply);

        Add(FuseOpcode.Init, FuseInitIn.CompatSize, static (s, r, in h, b) => s.HandleInit(r, in h, b));
        Add(FuseOpcode.Destroy, 0, static (s, r, in h, b) => s.HandleDestroy(r, in h));
        Add(FuseOpcode.Lookup, 1, static (s, r, in h, b) => s.HandleLookup(r, in h, b));
        Add(FuseOpcode.Forget, Unsafe.SizeOf<FuseForgetIn>(), static (s, r, in h, b) => s.HandleForget(in h, b), noReply: true);
        Add(FuseOpcode.BatchForget, Unsafe.SizeOf<FuseBatchForgetIn>(), static (s, r, in h, b) => s.HandleBatchForget(b), noReply: true);
        Add(FuseOpcode.GetAttr, Unsafe.SizeOf<FuseGetAttrIn>(), static (s, r, in h, b) => s.HandleGetAttr(r, in h));
        Add(FuseOpcode.ReadLink, 0, static (s, r, in h, b) => s.HandleReadLink(r, in h));
        Add(FuseOpcode.Open, Unsafe.SizeOf<FuseOpenIn>(), static (s, r, in h, b) => s.HandleOpen(r, in h, b));
        Add(FuseOpcode.Read, Unsafe.SizeOf<FuseReadIn>(), static (s, r, in h, b) => s.HandleRead(r, in h, b));
        Add(FuseOpcode.Release, Unsafe.SizeOf<FuseReleaseIn>(), static (s, r, in h, b) => s.HandleRelease(r, in h, b));
        Add(FuseOpcode.OpenDir, Unsafe.SizeOf<FuseOpenIn>(), static (s, r, in h, b) => s.HandleOpenDir(r, in h));
        Add(FuseOpcode.ReadDir, Unsafe.SizeOf<FuseReadIn>(), static (s, r, in h, b) => s.HandleReadDir(r, in h, b, plus: false));
        Add(FuseOpcode.ReadDirPlus, Unsafe.SizeOf<FuseReadIn>(), static (s, r, in h, b) => s.HandleReadDir(r, in h, b, plus: true));
        Add(FuseOpcode.ReleaseDir, Unsafe.SizeOf<FuseReleaseIn>(), static (s, r, in h, b) => s.HandleReleaseDir(r, in h, b));
        Add(FuseOpcode.StatFs, 0, static (s, r, in h, b) => s.HandleStatFs(r, in h));
        Add(FuseOpcode.GetXattr, Unsafe.SizeOf<FuseGetXattrIn>() + 1, static (s, r, in h, b) => s.HandleGetXattr(r, in h, b));
        Add(FuseOpcode.ListXattr, Unsafe.SizeOf<FuseGetXattrIn>(), static (s, r, in h, b) => s.HandleListXattr(r, in h, b));
        Add(FuseOpcode.Access, Unsafe.SizeOf<FuseAccessIn>(), static (s, r, in h, b) => s.HandleAccess(r, in h, b));
        Add(FuseOpcode.Flush, Unsafe.SizeOf<FuseFlushIn>(), static (s, r, in h, b) => s.HandleFlush(r, in h));
        Add(FuseOpcode.LSeek, Unsafe.SizeOf<FuseLSeekIn>(), static (s, r, in h, b) => s.HandleLSeek(r, in h, b));
        Add(FuseOpcode.Interrupt, Unsafe.SizeOf<FuseInterruptIn>(), static (s, r, in h, b) => s.HandleInterrupt(b), noReply: true);

        // A read-only file system: everything that would change it is refused.
        foreach (var write in WriteOpcodes)
        {
            Add(write, 0, static (s, r, in h, b) => Errno.EROFS);
        }
        return table;
    }
}
