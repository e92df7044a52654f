using System.Text.Json.Serialization;

namespace Snapshotter.Estargz;

/// <summary>The eStargz table of contents (Go <c>JTOC</c>): <c>{"version": 1, "entries": [...]}</c>.</summary>
public sealed class Toc
{
    public const int CurrentVersion = 1;

    [JsonPropertyName("version")]
    public int Version { get; set; } = CurrentVersion;

    /// <summary>Every tar entry and every later chunk of a file, in blob order, without the TOC itself.</summary>
    [JsonPropertyName("entries")]
    public IList<TocEntry> Entries { get; set; } = [];

    /// <summary>Serializes exactly as the Go writer does (<c>json.MarshalIndent(toc, "", "\t")</c>).</summary>
    public byte[] ToJson() => TocJson.Serialize(this);

    /// <summary>Parses TOC JSON; unknown keys are ignored. Throws <see cref="EstargzFormatException"/> on malformed JSON.</summary>
    public static Toc Parse(ReadOnlySpan<byte> json) => TocJson.Deserialize(json);
}
