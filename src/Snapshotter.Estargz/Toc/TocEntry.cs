using System.Globalization;
using System.Text.Json.Serialization;

namespace Snapshotter.Estargz;

/// <summary>
/// One entry of the eStargz table of contents: a tar entry, or a later chunk of a regular file.
/// Property order and JSON names follow the Go <c>TOCEntry</c> so that our TOC bytes (and so
/// the TOC digest) look like the ones the Go writer produces. Every field is omitted when it
/// has its default value, like Go's <c>omitempty</c>; only <see cref="Name"/> and
/// <see cref="Type"/> are always written.
/// </summary>
public sealed class TocEntry
{
    /// <summary>The full tar path as stored, e.g. <c>bin/</c> or <c>./etc/passwd</c>.</summary>
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    /// <summary>One of <see cref="TocEntryTypes"/>.</summary>
    [JsonPropertyName("type")]
    public string Type { get; set; } = "";

    /// <summary>Uncompressed size of a regular file.</summary>
    [JsonPropertyName("size")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Size { get; set; }

    /// <summary>Modification time, RFC 3339 in UTC with whole seconds; null means zero or unknown.</summary>
    [JsonPropertyName("modtime")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? ModTime { get; set; }

    [JsonPropertyName("linkName")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? LinkName { get; set; }

    /// <summary>The tar header mode field as stored (may carry file-type bits, e.g. 16877 = 040755).</summary>
    [JsonPropertyName("mode")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Mode { get; set; }

    [JsonPropertyName("uid")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Uid { get; set; }

    [JsonPropertyName("gid")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Gid { get; set; }

    /// <summary>Owner name; writers emit it only on the first entry with a given uid.</summary>
    [JsonPropertyName("userName")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? UserName { get; set; }

    /// <summary>Group name; writers emit it only on the first entry with a given gid.</summary>
    [JsonPropertyName("groupName")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? GroupName { get; set; }

    /// <summary>Blob offset of the gzip member that holds this payload (reg or chunk).</summary>
    [JsonPropertyName("offset")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Offset { get; set; }

    /// <summary>Uncompressed offset of this payload inside the member that starts at <see cref="Offset"/>.</summary>
    [JsonPropertyName("innerOffset")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long InnerOffset { get; set; }

    [JsonPropertyName("devMajor")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int DevMajor { get; set; }

    [JsonPropertyName("devMinor")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int DevMinor { get; set; }

    /// <summary>Extended attributes; base64 in JSON, written with keys in ordinal order (as Go sorts map keys).</summary>
    [JsonPropertyName("xattrs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    [JsonConverter(typeof(XattrsJsonConverter))]
    public IDictionary<string, byte[]>? Xattrs { get; set; }

    /// <summary><c>sha256:…</c> of the whole file content, on the <c>reg</c> entry.</summary>
    [JsonPropertyName("digest")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? Digest { get; set; }

    /// <summary>Offset of this chunk inside the uncompressed file.</summary>
    [JsonPropertyName("chunkOffset")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long ChunkOffset { get; set; }

    /// <summary>Uncompressed chunk length as serialized: 0 means "to the end of the file".</summary>
    [JsonPropertyName("chunkSize")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long ChunkSize { get; set; }

    /// <summary><c>sha256:…</c> of this chunk's uncompressed bytes.</summary>
    [JsonPropertyName("chunkDigest")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? ChunkDigest { get; set; }

    /// <summary>
    /// Our extension, on <c>reg</c>/<c>chunk</c> entries before <c>.prefetch.landmark</c>: the workload
    /// recorded by <c>estargz optimize</c> read this chunk. When some chunk of a file carries it, our
    /// snapshotter prefetches only the marked chunks of that file. Readers that do not know the key
    /// ignore it (and prefetch the whole region before the landmark, as without it).
    /// </summary>
    [JsonPropertyName("prefetch")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Prefetch { get; set; }

    /// <summary>The parsed <see cref="ModTime"/>, or null when absent or unparsable (Go ignores bad values too).</summary>
    [JsonIgnore]
    public DateTimeOffset? ModificationTime =>
        ModTime is not { Length: > 0 } text ? null
        : TryParseGoUtc(text, out var exact) ? exact
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value) ? value
        : null;

    /// <summary>
    /// The form the Go writer (and ours) always produces, <c>2006-01-02T15:04:05Z</c>, parsed digit by
    /// digit: the general parser took a tenth of building a mounted layer's tree.
    /// </summary>
    private static bool TryParseGoUtc(string text, out DateTimeOffset value)
    {
        value = default;
        if (text.Length != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
        {
            return false;
        }
        int Digits(int at, int count)
        {
            var number = 0;
            for (var i = at; i < at + count; i++)
            {
                var digit = text[i] - '0';
                if ((uint)digit > 9)
                {
                    return -1;
                }
                number = (number * 10) + digit;
            }
            return number;
        }
        var (year, month, day) = (Digits(0, 4), Digits(5, 2), Digits(8, 2));
        var (hour, minute, second) = (Digits(11, 2), Digits(14, 2), Digits(17, 2));
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour is < 0 or > 23 || minute is < 0 or > 59 || second is < 0 or > 59)
        {
            return false; // the general parser decides (and refuses what is not a time)
        }
        value = new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero);
        return true;
    }

    /// <summary>Formats a time the way the Go writer does: UTC, rounded to whole seconds; null for the Unix epoch.</summary>
    public static string? FormatModTime(DateTimeOffset time)
    {
        // Go: empty for the zero time or any time within the epoch's second, else Round(time.Second).
        if (time.ToUnixTimeSeconds() == 0 || time == DateTimeOffset.MinValue)
        {
            return null;
        }
        var ticks = time.UtcTicks + (TimeSpan.TicksPerSecond / 2);
        var rounded = new DateTime(ticks - (ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);
        return rounded.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
    }

    public override string ToString() => $"{Type} {Name}";
}

/// <summary>The values of <see cref="TocEntry.Type"/>.</summary>
public static class TocEntryTypes
{
    public const string Directory = "dir";
    public const string Regular = "reg";
    public const string Symlink = "symlink";
    public const string Hardlink = "hardlink";
    public const string CharDevice = "char";
    public const string BlockDevice = "block";
    public const string Fifo = "fifo";
    public const string Chunk = "chunk";
}
