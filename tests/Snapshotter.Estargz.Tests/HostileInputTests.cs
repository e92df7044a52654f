using System.Diagnostics;
using System.Text;
using Snapshotter.Oci;

namespace Snapshotter.Estargz.Tests;

/// <summary>Every malformed or malicious blob must end in a clear exception, never wrong data or a hang.</summary>
public sealed class HostileInputTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly (string, byte[])[] Files =
    [
        ("a.txt", "alpha\n"u8.ToArray()),
        ("dir/b.bin", HandmadeEstargz.RandomBytes(20_000, 3)),
        ("dir/c.txt", "gamma\n"u8.ToArray()),
    ];

    private static HandmadeEstargz.Blob Valid() => HandmadeEstargz.Build(Files, chunkSize: 8192);

    private static Task<EstargzReader> Open(byte[] bytes, Digest? digest = null) =>
        EstargzReader.OpenAsync(new MemoryBlobSource(bytes), digest, cancellationToken: Ct);

    private static async Task<EstargzFormatException> OpenFails(HandmadeEstargz.Blob blob) =>
        await Assert.ThrowsAsync<EstargzFormatException>(() => Open(blob.Bytes, blob.TocDigest));

    private static Task<EstargzFormatException> EditFails(Action<Toc> edit) => OpenFails(HandmadeEstargz.EditToc(Valid(), edit));

    [Fact]
    public async Task Every_truncation_of_a_blob_is_rejected()
    {
        var bytes = Valid().Bytes;
        for (var length = 0; length < bytes.Length; length += length < 100 ? 1 : 37)
        {
            await Assert.ThrowsAsync<EstargzFormatException>(() => Open(bytes[..length]));
        }
    }

    [Fact]
    public async Task Garbage_without_a_footer_is_rejected()
    {
        var error = await Assert.ThrowsAsync<EstargzFormatException>(() => Open(HandmadeEstargz.RandomBytes(10_000, 1)));
        Assert.Contains("footer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plain_gzip_layer_is_not_estargz()
    {
        await Assert.ThrowsAsync<EstargzFormatException>(() => Open(HandmadeEstargz.Gzip(new byte[4096])));
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(1L << 40)]
    public async Task A_toc_offset_past_the_end_is_rejected(long tocOffset)
    {
        var bytes = Valid().Bytes;
        Footer.Write(bytes.AsSpan(bytes.Length - Footer.Size), tocOffset);
        var error = await Assert.ThrowsAsync<EstargzFormatException>(() => Open(bytes));
        Assert.Contains("TOC offset", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_toc_offset_that_is_not_a_member_is_rejected()
    {
        var blob = Valid();
        var bytes = blob.Bytes;
        Footer.Write(bytes.AsSpan(bytes.Length - Footer.Size), blob.TocOffset + 3);
        await Assert.ThrowsAsync<EstargzFormatException>(() => Open(bytes));
    }

    [Fact]
    public async Task A_toc_member_with_another_name_is_rejected()
    {
        var blob = HandmadeEstargz.WithToc(Valid().Bytes[..(int)Valid().TocOffset], Valid().TocJson, tocName: "evil.json");
        var error = await OpenFails(blob);
        Assert.Contains("stargz.index.json", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"version\": 2, \"entries\": []}")]
    [InlineData("[1, 2, 3]")]
    public async Task A_toc_that_is_not_a_toc_is_rejected(string json)
    {
        var valid = Valid();
        await OpenFails(HandmadeEstargz.WithToc(valid.Bytes[..(int)valid.TocOffset], Encoding.UTF8.GetBytes(json)));
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("dir/../../etc/passwd")]
    [InlineData("a/..")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    [InlineData("a\0b")]
    public async Task Names_that_escape_the_root_are_rejected(string name)
    {
        await EditFails(toc => toc.Entries.Insert(0, new TocEntry { Name = name, Type = TocEntryTypes.Directory }));
    }

    [Fact]
    public async Task A_root_entry_that_is_not_a_directory_is_rejected()
    {
        await EditFails(toc => toc.Entries.Insert(0, new TocEntry { Name = "./", Type = TocEntryTypes.Symlink, LinkName = "x" }));
    }

    [Fact]
    public async Task Dot_slash_prefixes_and_trailing_slashes_are_normalised()
    {
        var blob = HandmadeEstargz.EditToc(Valid(), toc => toc.Entries.Insert(0, new TocEntry { Name = "./dir//sub/./", Type = TocEntryTypes.Directory }));
        var reader = await Open(blob.Bytes, blob.TocDigest);
        Assert.Equal("./dir//sub/./", reader.GetEntry("dir/sub").Name);
    }

    public static TheoryData<string> TocEdits => new(TocMutations.Keys);

    private static readonly Dictionary<string, Action<Toc>> TocMutations = new()
    {
        ["negative offset"] = toc => Payload(toc, "dir/b.bin").Offset = -1,
        ["offset past the TOC"] = toc => Payload(toc, "dir/c.txt").Offset = 1L << 40,
        ["offset into the TOC member"] = toc => toc.Entries[^1].Offset += 1_000_000,
        ["offsets going backwards"] = toc => Payload(toc, "dir/c.txt").Offset = Payload(toc, "a.txt").Offset,
        ["payloads overlapping in a member"] = toc => toc.Entries[^1].Offset = toc.Entries[^2].Offset,
        ["absurd size"] = toc => Payload(toc, "a.txt").Size = (1L << 50) + 1,
        ["negative size"] = toc => Payload(toc, "a.txt").Size = -5,
        ["chunks longer than the file"] = toc => Payload(toc, "dir/b.bin").Size = 10_000,
        ["chunks shorter than the file"] = toc => toc.Entries.Last(e => e.Type == TocEntryTypes.Chunk).ChunkSize = 100,
        ["chunk larger than the file"] = toc => Payload(toc, "dir/b.bin").ChunkSize = 30_000,
        ["chunk offsets with a gap"] = toc => toc.Entries.First(e => e.Type == TocEntryTypes.Chunk).ChunkOffset += 1,
        ["negative chunk size"] = toc => Payload(toc, "dir/b.bin").ChunkSize = -1,
        ["negative inner offset"] = toc => Payload(toc, "dir/b.bin").InnerOffset = -1,
        ["chunk without its file"] = toc => toc.Entries.Insert(0, new TocEntry { Name = "dir/b.bin", Type = TocEntryTypes.Chunk, Offset = 1 }),
        ["missing chunk digest"] = toc => Payload(toc, "a.txt").ChunkDigest = null,
        ["malformed digest"] = toc => Payload(toc, "a.txt").Digest = "md5:abc",
        ["duplicate entry"] = toc => toc.Entries.Add(new TocEntry { Name = "./a.txt", Type = TocEntryTypes.Symlink, LinkName = "x" }),
        ["duplicate directory"] = toc =>
        {
            toc.Entries.Add(new TocEntry { Name = "d2", Type = TocEntryTypes.Directory });
            toc.Entries.Add(new TocEntry { Name = "d2/", Type = TocEntryTypes.Directory });
        },
        ["file used as a directory"] = toc => toc.Entries.Add(new TocEntry { Name = "a.txt/inside", Type = TocEntryTypes.Fifo }),
        ["directory after its children as a file"] = toc => toc.Entries.Add(new TocEntry { Name = "dir", Type = TocEntryTypes.Fifo }),
        ["hardlink to a missing target"] = toc => toc.Entries.Add(new TocEntry { Name = "h", Type = TocEntryTypes.Hardlink, LinkName = "nowhere" }),
        ["hardlink forward reference"] = toc => toc.Entries.Insert(0, new TocEntry { Name = "h", Type = TocEntryTypes.Hardlink, LinkName = "a.txt" }),
        ["hardlink loop"] = toc =>
        {
            toc.Entries.Add(new TocEntry { Name = "h1", Type = TocEntryTypes.Hardlink, LinkName = "h2" });
            toc.Entries.Add(new TocEntry { Name = "h2", Type = TocEntryTypes.Hardlink, LinkName = "h1" });
        },
        ["hardlink to itself"] = toc => toc.Entries.Add(new TocEntry { Name = "h", Type = TocEntryTypes.Hardlink, LinkName = "h" }),
        ["hardlink to a directory"] = toc => toc.Entries.Add(new TocEntry { Name = "h", Type = TocEntryTypes.Hardlink, LinkName = "dir" }),
        ["hardlink escaping"] = toc => toc.Entries.Add(new TocEntry { Name = "h", Type = TocEntryTypes.Hardlink, LinkName = "../a.txt" }),
        ["symlink without a target"] = toc => toc.Entries.Add(new TocEntry { Name = "s", Type = TocEntryTypes.Symlink }),
        ["unknown type"] = toc => toc.Entries.Add(new TocEntry { Name = "s", Type = "socket" }),
        ["negative uid"] = toc => toc.Entries[0].Uid = -1,
        ["negative device"] = toc => toc.Entries.Add(new TocEntry { Name = "dev", Type = TocEntryTypes.CharDevice, DevMajor = -1 }),
        ["more bytes than the member can inflate to"] = toc => Payload(toc, "a.txt").Size = 1L << 45,
    };

    [Theory]
    [MemberData(nameof(TocEdits))]
    public async Task Hostile_tocs_are_rejected(string edit)
    {
        var error = await EditFails(TocMutations[edit]);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public async Task A_chunk_whose_digest_mismatches_is_refused()
    {
        var blob = HandmadeEstargz.EditToc(Valid(), toc => Payload(toc, "a.txt").ChunkDigest = Digest.Compute("ALPHA\n"u8).Value);
        var reader = await Open(blob.Bytes, blob.TocDigest);
        await Assert.ThrowsAsync<DigestMismatchException>(() => reader.ReadAllBytesAsync("a.txt", Ct));
    }

    [Fact]
    public async Task Corrupted_compressed_chunk_bytes_are_refused()
    {
        var blob = Valid();
        var reader = await Open(blob.Bytes, blob.TocDigest);
        var chunk = reader.GetChunks(reader.GetEntry("dir/b.bin"))[1];
        var bytes = (byte[])blob.Bytes.Clone();
        for (var i = 20; i < chunk.CompressedLength - 20; i += 50)
        {
            bytes[chunk.CompressedOffset + i] ^= 0x5a;
        }
        var corrupt = await Open(bytes, blob.TocDigest);
        var error = await Record.ExceptionAsync(() => corrupt.ReadAllBytesAsync("dir/b.bin", Ct));
        Assert.True(error is EstargzFormatException or DigestMismatchException, error?.ToString());
    }

    [Fact]
    public async Task A_member_that_inflates_to_far_more_is_read_only_as_far_as_the_chunk()
    {
        // 64 MiB of zeros in one member, but the TOC says the file is 4 bytes: the reader must stop after 4.
        var header = HandmadeEstargz.Gzip(HandmadeEstargz.TarRegularHeader("bomb", 4));
        var bomb = HandmadeEstargz.Gzip(new byte[64 * 1024 * 1024]);
        var toc = new Toc
        {
            Entries = [new TocEntry { Name = "bomb", Type = TocEntryTypes.Regular, Size = 4, Offset = header.Length, ChunkDigest = Digest.Compute(new byte[4]).Value }],
        };
        var blob = HandmadeEstargz.WithToc([.. header, .. bomb], toc.ToJson(), toc);
        var reader = await Open(blob.Bytes, blob.TocDigest);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var timer = Stopwatch.StartNew();
        Assert.Equal(new byte[4], await reader.ReadAllBytesAsync("bomb", Ct));
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(5));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 * 1024 * 1024, "the bomb was inflated into memory");
    }

    [Fact]
    public async Task A_toc_claiming_a_huge_size_is_bounded()
    {
        var valid = Valid();
        var member = HandmadeEstargz.Gzip([.. HandmadeEstargz.TarRegularHeader(EstargzConstants.TocFileName, 1L << 32), .. new byte[1024]]);
        var bytes = valid.Bytes[..(int)valid.TocOffset].Concat(member).ToArray();
        var footer = new byte[Footer.Size];
        Footer.Write(footer, valid.TocOffset);
        var error = await Assert.ThrowsAsync<EstargzFormatException>(() => Open([.. bytes, .. footer]));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    private static TocEntry Payload(Toc toc, string name) => toc.Entries.First(e => e.Name == name && e.Type == TocEntryTypes.Regular);
}
