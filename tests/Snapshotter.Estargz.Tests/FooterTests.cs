using System.IO.Compression;
using System.Text;

namespace Snapshotter.Estargz.Tests;

public sealed class FooterTests
{
    [Fact]
    public void Sizes_are_51_and_47_bytes()
    {
        Assert.Equal(51, Footer.Size);
        Assert.Equal(47, Footer.LegacySize);
    }

    [Fact]
    public void Footer_has_the_exact_bytes_of_the_spec()
    {
        var footer = new byte[Footer.Size];
        Footer.Write(footer, 0x1234abcd);

        byte[] expected =
        [
            0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0x00, 0xff, // gzip header with FEXTRA, MTIME 0, OS unknown
            0x1a, 0x00, (byte)'S', (byte)'G', 0x16, 0x00, // XLEN 26, subfield 'S''G' LEN 22
            .. Encoding.ASCII.GetBytes("000000001234abcdSTARGZ"),
            0x01, 0x00, 0x00, 0xff, 0xff, // empty final stored block
            0, 0, 0, 0, 0, 0, 0, 0, // CRC32 and ISIZE of nothing
        ];
        Assert.Equal(expected, footer);
    }

    [Fact]
    public void Legacy_footer_has_the_bare_extra_field()
    {
        var footer = new byte[Footer.LegacySize];
        Footer.WriteLegacy(footer, 0xabc);

        Assert.Equal([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0x00, 0xff, 0x16, 0x00], footer[..12]);
        Assert.Equal("0000000000000abcSTARGZ", Encoding.ASCII.GetString(footer, 12, 22));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Footers_are_empty_gzip_members(bool legacy)
    {
        var footer = new byte[legacy ? Footer.LegacySize : Footer.Size];
        if (legacy)
        {
            Footer.WriteLegacy(footer, 99);
        }
        else
        {
            Footer.Write(footer, 99);
        }
        using var gzip = new GZipStream(new MemoryStream(footer), CompressionMode.Decompress);
        var output = new MemoryStream();
        gzip.CopyTo(output);
        Assert.Equal(0, output.Length);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(0x7fff_ffff_ffff_ffffL)]
    public void Footers_round_trip(long offset)
    {
        var footer = new byte[Footer.Size];
        Footer.Write(footer, offset);
        Assert.True(Footer.TryParse(footer, out var parsed));
        Assert.Equal(offset, parsed);
        Assert.False(Footer.TryParseLegacy(footer.AsSpan(4), out _));

        var legacy = new byte[Footer.LegacySize];
        Footer.WriteLegacy(legacy, offset);
        Assert.True(Footer.TryParseLegacy(legacy, out parsed));
        Assert.Equal(offset, parsed);
        Assert.False(Footer.TryParse([.. new byte[4], .. legacy], out _));
    }

    public static TheoryData<string, int, byte> Corruptions => new()
    {
        { "gzip magic", 0, 0x00 },
        { "method", 2, 0x07 },
        { "flags: FNAME as well", 3, 0x0c },
        { "XLEN", 10, 0x1b },
        { "subfield id", 12, (byte)'X' },
        { "subfield length", 14, 0x15 },
        { "hex digit", 16, (byte)'g' },
        { "sign", 16, (byte)'-' },
        { "magic", 32, (byte)'s' },
        { "crc", 43, 0x01 },
        { "isize", 50, 0x01 },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Corrupted_footers_are_rejected(string what, int offset, byte value)
    {
        var footer = new byte[Footer.Size];
        Footer.Write(footer, 4096);
        footer[offset] = value;
        Assert.False(Footer.TryParse(footer, out _), what);
    }

    [Fact]
    public void Offsets_beyond_int64_are_rejected()
    {
        var footer = new byte[Footer.Size];
        Footer.Write(footer, 0);
        Encoding.ASCII.GetBytes("ffffffffffffffff").CopyTo(footer, 16);
        Assert.False(Footer.TryParse(footer, out _));
    }

    [Fact]
    public void Random_bytes_are_not_a_footer()
    {
        var random = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            var bytes = new byte[Footer.Size];
            random.NextBytes(bytes);
            Assert.False(Footer.TryParse(bytes, out _));
            Assert.False(Footer.TryParseLegacy(bytes.AsSpan(0, Footer.LegacySize), out _));
        }
    }
}
