using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Estargz.Tools.Conversion;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Spectre.Console;

namespace Estargz.Tools.Commands;

/// <summary>How layers are built, and which platforms are converted: options of convert and optimize.</summary>
internal sealed class BuildOptions
{
    private readonly Option<int> _chunkSize = new("--chunk-size") { Description = "uncompressed bytes per chunk of a large file", DefaultValueFactory = _ => 4 << 20 };
    private readonly Option<int> _minChunkSize = new("--min-chunk-size") { Description = "small files are packed together into members of at least this many bytes (0: one member per file)" };
    private readonly Option<bool> _zstdChunked = new("--zstdchunked") { Description = "write zstd:chunked layers (zstd frames, media type tar+zstd) instead of eStargz's gzip, as ctr-remote's --zstdchunked does" };
    private readonly Option<int?> _level = new("--compression-level") { Description = "gzip level 0-9 (default 9, as the Go converter), or zstd level 1-22 with --zstdchunked (default 3, as the Go converter)" };
    private readonly Option<int> _prefetchGroupSize = new("--prefetch-group-size") { Description = "the files (or read chunks) a snapshotter prefetches share members of up to this many bytes: much smaller with --zstdchunked, read by stargz-snapshotter 0.13 and later (0: one member per file)" };
    private readonly Option<string[]> _platforms = new("--platform") { Description = "convert only these platforms of a multi-platform image (os/arch[/variant]; repeatable or comma-separated; default all)" };

    public void AddTo(Command command)
    {
        command.Options.Add(_chunkSize);
        command.Options.Add(_minChunkSize);
        command.Options.Add(_zstdChunked);
        command.Options.Add(_level);
        command.Options.Add(_prefetchGroupSize);
        command.Options.Add(_platforms);
    }

    public EstargzBuildOptions Read(ParseResult result, string temporaryDirectory)
    {
        var zstd = result.GetValue(_zstdChunked);
        return new()
        {
            ChunkSize = result.GetValue(_chunkSize),
            MinChunkSize = result.GetValue(_minChunkSize),
            Format = zstd ? EstargzFormat.ZstdChunked : EstargzFormat.Estargz,
            CompressionLevel = result.GetValue(_level) ?? (zstd ? DefaultZstdLevel : DefaultGzipLevel),
            PrefetchGroupSize = result.GetValue(_prefetchGroupSize),
            TempDirectory = temporaryDirectory,
        };
    }

    private const int DefaultGzipLevel = 9;
    private const int DefaultZstdLevel = 3;

    public IReadOnlyList<Platform> Platforms(ParseResult result) =>
        (result.GetValue(_platforms) ?? []).SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Select(Platform.Parse).ToList();
}

/// <summary><c>--json</c> and <c>--quiet</c>.</summary>
internal sealed class OutputOptions
{
    private readonly Option<bool> _json = new("--json") { Description = "print a JSON summary on stdout" };
    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "no progress output" };

    public void AddTo(Command command)
    {
        command.Options.Add(_json);
        command.Options.Add(_quiet);
    }

    public Output Read(ParseResult result) => new(result.GetValue(_json), result.GetValue(_quiet));
}

/// <summary>Where progress and the summary go: bars on a terminal, lines in a CI log, JSON on stdout.</summary>
internal sealed record Output(bool Json, bool Quiet)
{
    public bool Interactive => !Json && !Quiet && !Console.IsErrorRedirected;

    /// <summary>A progress line on stderr, unless quiet or JSON.</summary>
    public void Say(string text)
    {
        if (!Json && !Quiet)
        {
            Console.Error.WriteLine(text);
        }
    }

    public async Task<T> RunAsync<T>(Func<ConversionProgress, Task<T>> work)
    {
        if (Interactive)
        {
            return await CommandRunner.Stderr.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(context => work(new ConversionProgress(context, null)));
        }
        return await work(Json || Quiet ? ConversionProgress.Silent : new ConversionProgress(null, Console.Error));
    }

    public void Print(ImageConversion conversion)
    {
        if (Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(conversion, ConversionJson.Default.ImageConversion));
        }
        else if (!Quiet)
        {
            var layers = conversion.Manifests.SelectMany(m => m.Layers).DistinctBy(l => (l.Source, l.Target)).ToList();
            var counts = conversion.Layers;
            Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "converted {0} image(s) to {1}{2}: {3} layer(s) converted ({4:N0} uncompressed bytes), {5} kept as they were eStargz already; blobs {6} stored, {7} skipped, {8} mounted; {9:F1} s",
                conversion.Manifests.Count, conversion.Target, conversion.Digest is { } digest ? "@" + digest : "",
                counts.Converted, layers.Where(l => l.Converted).Sum(l => l.UncompressedSize), counts.Kept,
                counts.Stored, counts.Skipped, counts.Mounted, conversion.Seconds));
        }
    }
}
