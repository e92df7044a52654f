using System.Globalization;

namespace Snapshotter.Estargz;

/// <summary>
/// Our layer annotation <see cref="Annotation"/>: the blob offset where the layer's TOC begins, in
/// decimal. A reader that knows it fetches the footer and the whole TOC in one ranged read of exactly
/// the blob's tail, where it would otherwise guess its length (<see cref="EstargzReaderOptions.TailReadSize"/>):
/// fewer bytes and slow-start round trips on a new connection for a small TOC, one request instead
/// of two for a large one. It only sizes that read: the footer and the TOC digest are checked as
/// always, so a wrong value costs a second read or spare bytes, never correctness. Written by
/// <c>estargz convert</c>/<c>optimize</c> with <see cref="SizeAnnotation"/>; readers that do not know
/// them ignore them.
/// </summary>
/// <remarks>
/// Both keys begin with <c>containerd.io/snapshot/</c>, so containerd's unpacker (ctr-remote, CRI,
/// nerdctl, <c>stargzctl rpull</c>) passes them to the snapshotter as Prepare labels, as it does the
/// TOC digest: with the blob's size beside the offset, the snapshotter reads the tail at once,
/// without fetching the image's manifest first to learn the size.
/// </remarks>
public static class TocOffsetHint
{
    public const string Annotation = "containerd.io/snapshot/stargz-dotnet/toc-offset";

    /// <summary>The blob's size in decimal, as its descriptor says: what Prepare labels otherwise lack.</summary>
    public const string SizeAnnotation = "containerd.io/snapshot/stargz-dotnet/blob-size";

    /// <summary>An offset or size as either annotation's value.</summary>
    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// <paramref name="options"/> (default: <see cref="EstargzReaderOptions.Default"/>) with a first
    /// read from <paramref name="value"/>'s offset to the end of a blob of <paramref name="blobSize"/>
    /// bytes; unchanged when the value is absent, not a plain decimal offset inside the blob, or
    /// would make that read larger than the largest TOC accepted.
    /// </summary>
    public static EstargzReaderOptions ReaderOptions(string? value, long blobSize, EstargzReaderOptions? options = null)
    {
        options ??= EstargzReaderOptions.Default;
        if (ParseOffset(value, blobSize) is not { } offset || blobSize - offset > options.MaxTocSize)
        {
            return options;
        }
        return options.FirstReadFrom(offset, blobSize);
    }

    /// <summary>The TOC's offset in <paramref name="value"/> (<see cref="Annotation"/>) when it lies inside a blob of <paramref name="blobSize"/> bytes; else null.</summary>
    public static long? ParseOffset(string? value, long blobSize) =>
        PositiveDecimal(value) is { } offset && offset < blobSize ? offset : null;

    /// <summary>
    /// The blob size in <paramref name="value"/> (<see cref="SizeAnnotation"/>): a plain positive
    /// decimal, else null.
    /// </summary>
    public static long? ParseSize(string? value) => PositiveDecimal(value);

    /// <summary>Either annotation's value read strictly: digits only, greater than zero; else null.</summary>
    private static long? PositiveDecimal(string? value) =>
        value is not null && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0 ? number : null;
}
