using System.Diagnostics;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using ZstdSharp;

namespace Estargz.Tools.Conversion;

/// <summary>Converts one layer blob (tar, tar+gzip or tar+zstd) to an eStargz (or zstd:chunked) blob file.</summary>
internal static class LayerConverter
{
    /// <summary>
    /// Writes the eStargz form of <paramref name="sourcePath"/> to <paramref name="targetPath"/>
    /// (through a temporary file beside it, so a failed conversion leaves nothing behind).
    /// </summary>
    public static async Task<LayerConversion> ConvertFileAsync(
        string sourcePath, string targetPath, string sourceMediaType, EstargzBuildOptions options,
        IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var temporary = targetPath + ".partial-" + Environment.ProcessId;
        try
        {
            EstargzBuildResult result;
            Digest sourceDigest;
            await using (var file = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
            await using (var source = new HashingProgressStream(file, progress))
            {
                var input = Decompressed(source, sourceMediaType);
                try
                {
                    await using var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
                    result = await EstargzBuilder.BuildAsync(input, output, options, cancellationToken);
                }
                finally
                {
                    if (!ReferenceEquals(input, source))
                    {
                        await input.DisposeAsync(); // A zstd decompressor: it leaves the source open to be drained.
                    }
                }
                sourceDigest = await source.DrainAndDigestAsync(cancellationToken);
            }
            File.Move(temporary, targetPath, overwrite: true);
            return new LayerConversion(
                Source: sourceDigest,
                Target: result.BlobDigest,
                SourceSize: new FileInfo(sourcePath).Length,
                TargetSize: result.CompressedSize,
                TocDigest: result.TocDigest,
                DiffId: result.DiffId,
                UncompressedSize: result.UncompressedSize,
                Converted: true,
                Seconds: stopwatch.Elapsed.TotalSeconds)
            {
                Format = result.Format,
                ZstdChunkedToc = result.ZstdChunkedToc,
                PrefetchSpans = result.PrefetchSpans,
                TocOffset = result.TocOffset,
            };
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    // The builder detects gzip itself; zstd layers are decompressed here so any layer becomes eStargz.
    private static Stream Decompressed(Stream blob, string mediaType) =>
        MediaTypes.CompressionOf(mediaType) == LayerCompression.Zstd ? new DecompressionStream(blob, leaveOpen: true) : blob;
}
