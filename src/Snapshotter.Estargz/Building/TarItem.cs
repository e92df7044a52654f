namespace Snapshotter.Estargz;

/// <summary>
/// One entry of the input tar: where its header blocks (including any PAX or GNU long-name
/// blocks before it) and its data lie in the spool, and the fields the TOC needs, with PAX
/// records applied.
/// </summary>
internal sealed class TarItem
{
    public required long HeaderOffset { get; init; }

    /// <summary>Length of all header blocks of this entry; they are copied verbatim, so nothing of the original header is lost.</summary>
    public required int HeaderLength { get; init; }

    public required long DataOffset { get; init; }

    /// <summary>The full name as the tar gives it (PAX <c>path</c> or GNU long name applied).</summary>
    public required string Name { get; init; }

    public required string CanonicalName { get; init; }

    public required string Type { get; init; }

    public required long Size { get; init; }

    public string? LinkName { get; init; }

    public long Mode { get; init; }

    public long Uid { get; init; }

    public long Gid { get; init; }

    public string? UserName { get; init; }

    public string? GroupName { get; init; }

    public DateTimeOffset ModTime { get; init; }

    public int DevMajor { get; init; }

    public int DevMinor { get; init; }

    public SortedDictionary<string, byte[]>? Xattrs { get; init; }

    /// <summary>Bytes from the header to the end of the padded data: what this entry occupies in a tar stream.</summary>
    public long PaddedDataLength => TarHeader.PaddedSize(Size);

    public override string ToString() => $"{Type} {Name}";
}
