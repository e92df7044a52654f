using System.Text;

namespace Snapshotter.Estargz.Tests;

public sealed class TocJsonTests
{
    [Fact]
    public void Serializes_like_go_MarshalIndent_with_tabs_and_omitempty()
    {
        var toc = new Toc
        {
            Entries =
            [
                new TocEntry { Name = "bin/", Type = "dir", ModTime = "2024-01-02T03:04:05Z", Mode = 16877, UserName = "root", GroupName = "root" },
                new TocEntry
                {
                    Name = "bin/sh", Type = "reg", Size = 10, Mode = 493, Uid = 1, Gid = 2, Offset = 123, InnerOffset = 5,
                    Xattrs = new Dictionary<string, byte[]> { ["user.z"] = [1], ["user.a"] = "hi"u8.ToArray() },
                    Digest = "sha256:aa", ChunkSize = 4, ChunkDigest = "sha256:bb",
                },
                new TocEntry { Name = "bin/sh", Type = "chunk", Offset = 456, ChunkOffset = 4, ChunkDigest = "sha256:cc" },
                new TocEntry { Name = "dev/null", Type = "char", DevMajor = 1, DevMinor = 3 },
                new TocEntry { Name = "l", Type = "symlink", LinkName = "bin/sh" },
            ],
        };

        var expected =
            "{\n" +
            "\t\"version\": 1,\n" +
            "\t\"entries\": [\n" +
            "\t\t{\n\t\t\t\"name\": \"bin/\",\n\t\t\t\"type\": \"dir\",\n\t\t\t\"modtime\": \"2024-01-02T03:04:05Z\",\n\t\t\t\"mode\": 16877,\n\t\t\t\"userName\": \"root\",\n\t\t\t\"groupName\": \"root\"\n\t\t},\n" +
            "\t\t{\n\t\t\t\"name\": \"bin/sh\",\n\t\t\t\"type\": \"reg\",\n\t\t\t\"size\": 10,\n\t\t\t\"mode\": 493,\n\t\t\t\"uid\": 1,\n\t\t\t\"gid\": 2,\n" +
            "\t\t\t\"offset\": 123,\n\t\t\t\"innerOffset\": 5,\n\t\t\t\"xattrs\": {\n\t\t\t\t\"user.a\": \"aGk=\",\n\t\t\t\t\"user.z\": \"AQ==\"\n\t\t\t},\n" +
            "\t\t\t\"digest\": \"sha256:aa\",\n\t\t\t\"chunkSize\": 4,\n\t\t\t\"chunkDigest\": \"sha256:bb\"\n\t\t},\n" +
            "\t\t{\n\t\t\t\"name\": \"bin/sh\",\n\t\t\t\"type\": \"chunk\",\n\t\t\t\"offset\": 456,\n\t\t\t\"chunkOffset\": 4,\n\t\t\t\"chunkDigest\": \"sha256:cc\"\n\t\t},\n" +
            "\t\t{\n\t\t\t\"name\": \"dev/null\",\n\t\t\t\"type\": \"char\",\n\t\t\t\"devMajor\": 1,\n\t\t\t\"devMinor\": 3\n\t\t},\n" +
            "\t\t{\n\t\t\t\"name\": \"l\",\n\t\t\t\"type\": \"symlink\",\n\t\t\t\"linkName\": \"bin/sh\"\n\t\t}\n" +
            "\t]\n" +
            "}";
        Assert.Equal(expected, Encoding.UTF8.GetString(toc.ToJson()));
    }

    [Fact]
    public void Escapes_strings_the_way_go_does()
    {
        var toc = new Toc { Entries = [new TocEntry { Name = "a<b>&c\"d\\e\n\t\u0001é日本\u2028", Type = "reg" }] };
        var json = Encoding.UTF8.GetString(toc.ToJson());
        Assert.Contains("\"name\": \"a\\u003cb\\u003e\\u0026c\\\"d\\\\e\\n\\t\\u0001é日本\\u2028\"", json, StringComparison.Ordinal);
        Assert.Equal(toc.Entries[0].Name, Toc.Parse(toc.ToJson()).Entries[0].Name);
    }

    [Fact]
    public void Parsing_ignores_unknown_keys_and_reads_every_field()
    {
        var json = """
            {"version": 1, "future": {"x": [1, 2]}, "entries": [
              {"name": "f", "type": "reg", "size": 3, "modtime": "2020-01-01T00:00:00Z", "linkName": "l", "mode": 420,
               "uid": 5, "gid": 6, "userName": "u", "groupName": "g", "devMajor": 7, "devMinor": 8,
               "xattrs": {"user.k": "dmFs"}, "digest": "sha256:d", "offset": 9, "chunkOffset": 10, "chunkSize": 11,
               "chunkDigest": "sha256:c", "innerOffset": 12, "NumLink": 3, "somethingNew": null}
            ]}
            """;
        var entry = Assert.Single(Toc.Parse(Encoding.UTF8.GetBytes(json)).Entries);
        Assert.Equal(("f", "reg", 3L, "2020-01-01T00:00:00Z", "l", 420L), (entry.Name, entry.Type, entry.Size, entry.ModTime, entry.LinkName, entry.Mode));
        Assert.Equal((5L, 6L, "u", "g", 7, 8), (entry.Uid, entry.Gid, entry.UserName, entry.GroupName, entry.DevMajor, entry.DevMinor));
        Assert.Equal("val"u8.ToArray(), entry.Xattrs!["user.k"]);
        Assert.Equal(("sha256:d", 9L, 10L, 11L, "sha256:c", 12L), (entry.Digest, entry.Offset, entry.ChunkOffset, entry.ChunkSize, entry.ChunkDigest, entry.InnerOffset));
        Assert.Equal(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), entry.ModificationTime);
    }

    [Theory]
    [InlineData("2023-07-14T09:08:07Z", "2023-07-14T09:08:07.0000000+00:00")] // the Go writer's form, the fast path
    [InlineData("2024-02-29T23:59:59Z", "2024-02-29T23:59:59.0000000+00:00")]
    [InlineData("2023-07-14T09:08:07.5Z", "2023-07-14T09:08:07.5000000+00:00")] // other forms: the general parser
    [InlineData("2023-07-14T11:08:07+02:00", "2023-07-14T09:08:07.0000000+00:00")]
    [InlineData("2023-02-30T00:00:00Z", null)] // no such day
    [InlineData("2023-07-14T24:00:00Z", null)]
    [InlineData("2023-07-1xT09:08:07Z", null)]
    [InlineData("yesterday", null)]
    [InlineData("", null)]
    public void Modification_times_parse_as_Go_writes_them_and_anything_else_as_before(string text, string? expected)
    {
        var entry = new TocEntry { Name = "f", ModTime = text };

        Assert.Equal(expected, entry.ModificationTime?.ToString("o", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"version\": 1, \"entries\": [")]
    [InlineData("{\"version\": \"one\", \"entries\": []}")]
    [InlineData("{\"version\": 1, \"entries\": [{\"name\": 5}]}")]
    [InlineData("{\"version\": 1, \"entries\": [null]}")]
    [InlineData("{\"version\": 1, \"entries\": [{\"name\": \"a\", \"xattrs\": {\"k\": \"not base64!\"}}]}")]
    [InlineData("{\"version\": 1, \"entries\": [{\"name\": \"a\", \"size\": 1e400}]}")]
    [InlineData("null")]
    [InlineData("")]
    public void Malformed_json_is_a_format_error(string json)
    {
        Assert.Throws<EstargzFormatException>(() => Toc.Parse(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void Round_trips_byte_for_byte()
    {
        var blob = HandmadeEstargz.Build([("a", [1, 2, 3]), ("b/c", new byte[10_000])], chunkSize: 4096);
        Assert.Equal(blob.TocJson, Toc.Parse(blob.TocJson).ToJson());
    }

    [Theory]
    [InlineData(0L, null)]
    [InlineData(1_700_000_000_400L, "2023-11-14T22:13:20Z")]
    [InlineData(1_700_000_000_500L, "2023-11-14T22:13:21Z")]
    public void Modtime_is_formatted_like_go(long unixMilliseconds, string? expected)
    {
        Assert.Equal(expected, TocEntry.FormatModTime(DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds)));
    }
}
