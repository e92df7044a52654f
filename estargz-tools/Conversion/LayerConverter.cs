using System.Diagnostics;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using ZstdSharp;

namespace Estargz.Tools.Conversion;

/// <summary>Converts one layer blob (tar, tar+gzip or tar+zstd) to an eStargz blob file.</summary>
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
            await using (var source = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
            await using (var counted = new ProgressStream(source, progress))
            await using (var input = Decompressed(counted, sourceMediaType))
            await using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                result = await EstargzBuilder.BuildAsync(input, output, options, cancellationToken);
            }
            File.Move(temporary, targetPath, overwrite: true);
            return new LayerConversion(
                Source: await DigestOfFileAsync(sourcePath, cancellationToken),
                Target: result.BlobDigest,
                SourceSize: new FileInfo(sourcePath).Length,
                TargetSize: result.CompressedSize,
                TocDigest: result.TocDigest,
                DiffId: result.DiffId,
                UncompressedSize: result.UncompressedSize,
                Converted: true,
                Seconds: stopwatch.Elapsed.TotalSeconds);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    // The builder detects gzip itself; zstd layers are decompressed here so any layer becomes eStargz.
    private static Stream Decompressed(Stream blob, string mediaType) =>
        MediaTypes.CompressionOf(mediaType) == LayerCompression.Zstd ? new DecompressionStream(blob) : blob;

    private static async Task<Digest> DigestOfFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return await Digest.ComputeAsync(stream, cancellationToken);
    }
}
