using Snapshotter.Testing.Tar;

namespace Snapshotter.Estargz.Tests;

/// <summary>Runs the builder in memory for tests.</summary>
internal static class Build
{
    public static async Task<(byte[] Blob, EstargzBuildResult Result)> EstargzAsync(byte[] layer, EstargzBuildOptions? options = null)
    {
        using var output = new MemoryStream();
        var result = await EstargzBuilder.BuildAsync(new MemoryStream(layer), output, options, TestContext.Current.CancellationToken);
        return (output.ToArray(), result);
    }

    public static async Task<(byte[] Blob, EstargzBuildResult Result, EstargzReader Reader)> AndOpenAsync(byte[] layer, EstargzBuildOptions? options = null)
    {
        var (blob, result) = await EstargzAsync(layer, options);
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(blob), result.TocDigest, cancellationToken: TestContext.Current.CancellationToken);
        return (blob, result, reader);
    }

    public static byte[] Gunzip(byte[] blob)
    {
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(blob), System.IO.Compression.CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    public static EstargzBuildOptions SmallChunks => new() { ChunkSize = 64 * 1024 };

    public static TarBuilder Sample => SampleLayers.AllEntryKinds();
}
