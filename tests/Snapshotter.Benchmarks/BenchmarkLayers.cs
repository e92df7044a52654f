using Snapshotter.Estargz;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Benchmarks;

/// <summary>Layers the benchmarks share, built in code so every run measures the same bytes.</summary>
internal static class BenchmarkLayers
{
    /// <summary>A tar shaped like a distro layer: many small files, some medium, a few large; text-like and binary-like content.</summary>
    public static byte[] MixedTar(int totalBytes)
    {
        var tar = new TarBuilder().Directory("usr/").Directory("usr/share/").Directory("usr/bin/");
        var written = 0;
        for (var i = 0; written < totalBytes; i++)
        {
            var size = (i % 50) switch
            {
                0 => 6 * 1024 * 1024,
                < 10 => 200 * 1024,
                _ => 2 * 1024,
            };
            size = Math.Min(size, Math.Max(1, totalBytes - written));
            tar.File(i % 2 == 0 ? $"usr/share/file-{i:D6}.txt" : $"usr/bin/tool-{i:D6}", SampleLayers.Pattern(size, i));
            written += size;
        }
        return tar.Build();
    }

    /// <summary>An eStargz with <paramref name="files"/> small files: its TOC has about that many entries.</summary>
    public static (byte[] Blob, EstargzBuildResult Result) ManyFiles(int files)
    {
        var tar = new TarBuilder();
        for (var d = 0; d < files / 100; d++)
        {
            tar.Directory($"dir-{d:D4}/");
            for (var f = 0; f < 99; f++)
            {
                tar.File($"dir-{d:D4}/file-{f:D3}.txt", SampleLayers.Pattern(64 + f, f));
            }
        }
        return Build(tar.Build(), new EstargzBuildOptions { CompressionLevel = 1 });
    }

    public static (byte[] Blob, EstargzBuildResult Result) Build(byte[] tar, EstargzBuildOptions options)
    {
        using var output = new MemoryStream();
        var result = EstargzBuilder.BuildAsync(new MemoryStream(tar), output, options).GetAwaiter().GetResult();
        return (output.ToArray(), result);
    }
}
