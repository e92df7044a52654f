using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Estargz.Tools.Conversion;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Spectre.Console;

namespace Estargz.Tools.Commands;

/// <summary>
/// <c>estargz convert SOURCE TARGET</c>: an OCI image layout directory into a new layout with
/// eStargz layers, or a single layer file (tar, tar+gzip, tar+zstd) into an eStargz blob.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "an OCI image layout directory, or a layer file (tar, tar.gz, tar.zst)" };
        var target = new Argument<string>("target") { Description = "the new OCI image layout directory (must not exist or be empty), or the eStargz blob file to write" };
        var chunkSize = new Option<int>("--chunk-size") { Description = "uncompressed bytes per chunk of a large file", DefaultValueFactory = _ => 4 << 20 };
        var minChunkSize = new Option<int>("--min-chunk-size") { Description = "small files are packed together into gzip members of at least this many bytes (0: one member per file)" };
        var level = new Option<int>("--compression-level") { Description = "gzip level 0-9 (9 is what the Go converter uses)", DefaultValueFactory = _ => 9 };
        var prioritized = new Option<FileInfo?>("--prioritized-files") { Description = "a file listing, one per line, the paths the workload reads first; they go before .prefetch.landmark" };
        var allowMissing = new Option<bool>("--allow-prioritized-not-found") { Description = "ignore prioritized paths the layer does not have" };
        var platforms = new Option<string[]>("--platform") { Description = "convert only these platforms of a multi-platform image (os/arch[/variant]; repeatable; default all)", AllowMultipleArgumentsPerToken = true };
        var json = new Option<bool>("--json") { Description = "print a JSON summary on stdout" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no progress output" };
        var command = new Command("convert", "convert an image (OCI layout) or a layer to eStargz")
        {
            source, target, chunkSize, minChunkSize, level, prioritized, allowMissing, platforms, json, quiet,
        };
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var options = new EstargzBuildOptions
            {
                ChunkSize = result.GetValue(chunkSize),
                MinChunkSize = result.GetValue(minChunkSize),
                CompressionLevel = result.GetValue(level),
                PrioritizedFiles = result.GetValue(prioritized) is { } list ? await ReadListAsync(list, cancellationToken) : [],
                AllowPrioritizedNotFound = result.GetValue(allowMissing),
            };
            var from = result.GetRequiredValue(source);
            var to = result.GetRequiredValue(target);
            var output = new Output(result.GetValue(json), result.GetValue(quiet));
            if (Directory.Exists(from))
            {
                var wanted = (result.GetValue(platforms) ?? []).Select(Platform.Parse).ToList();
                return await ConvertImageAsync(from, to, options, wanted, output, cancellationToken);
            }
            return await ConvertLayerAsync(from, to, options, output, cancellationToken);
        }));
        return command;
    }

    private sealed record Output(bool Json, bool Quiet)
    {
        public bool Interactive => !Json && !Quiet && !Console.IsErrorRedirected;
    }

    private static async Task<int> ConvertImageAsync(
        string from, string to, EstargzBuildOptions options, IReadOnlyList<Platform> platforms, Output output, CancellationToken cancellationToken)
    {
        if (Directory.Exists(to) && Directory.EnumerateFileSystemEntries(to).Any())
        {
            throw new IOException($"target '{to}' exists and is not empty; choose a new directory");
        }
        var sourceLayout = await OciImageLayout.OpenAsync(from, cancellationToken);
        var targetLayout = await OciImageLayout.CreateAsync(to, cancellationToken);
        ImageConversion conversion;
        if (output.Interactive)
        {
            conversion = await CommandRunner.Stderr.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(context => new ImageLayoutConverter(sourceLayout, targetLayout, options, platforms, new ConversionProgress(context, null))
                    .ConvertAsync(cancellationToken));
        }
        else
        {
            var progress = output.Json || output.Quiet ? ConversionProgress.Silent : new ConversionProgress(null, Console.Error);
            conversion = await new ImageLayoutConverter(sourceLayout, targetLayout, options, platforms, progress).ConvertAsync(cancellationToken);
        }

        if (output.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(conversion, ConversionJson.Default.ImageConversion));
        }
        else if (!output.Quiet)
        {
            var layers = conversion.Manifests.SelectMany(m => m.Layers).DistinctBy(l => l.Source).ToList();
            var converted = layers.Where(l => l.Converted).ToList();
            Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "converted {0} image(s), {1} layer(s) ({2} kept as they were eStargz already), {3:N0} uncompressed bytes in {4:F1} s",
                conversion.Manifests.Count, converted.Count, layers.Count - converted.Count,
                converted.Sum(l => l.UncompressedSize), conversion.Seconds));
        }
        return ExitCodes.Success;
    }

    private static async Task<int> ConvertLayerAsync(string from, string to, EstargzBuildOptions options, Output output, CancellationToken cancellationToken)
    {
        if (!File.Exists(from))
        {
            throw new FileNotFoundException($"source '{from}' is neither an OCI image layout directory nor a layer file", from);
        }
        // The media type only matters for zstd, which needs decompressing before the builder.
        var mediaType = await LooksLikeZstdAsync(from, cancellationToken) ? MediaTypes.OciLayerZstd : MediaTypes.OciLayerGzip;
        var conversion = await LayerConverter.ConvertFileAsync(from, to, mediaType, options, progress: null, cancellationToken);
        if (output.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(conversion, ConversionJson.Default.LayerConversion));
        }
        else
        {
            Console.WriteLine($"blob digest:       {conversion.Target}");
            Console.WriteLine($"TOC digest:        {conversion.TocDigest}");
            Console.WriteLine($"diff id:           {conversion.DiffId}");
            Console.WriteLine($"uncompressed size: {conversion.UncompressedSize}");
            Console.WriteLine($"blob size:         {conversion.TargetSize}");
        }
        return ExitCodes.Success;
    }

    private static async Task<bool> LooksLikeZstdAsync(string path, CancellationToken cancellationToken)
    {
        var magic = new byte[4];
        await using var stream = File.OpenRead(path);
        var read = await stream.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken);
        return read == 4 && magic.AsSpan().SequenceEqual(new byte[] { 0x28, 0xb5, 0x2f, 0xfd });
    }

    private static async Task<IReadOnlyList<string>> ReadListAsync(FileInfo file, CancellationToken cancellationToken) =>
        (await File.ReadAllLinesAsync(file.FullName, cancellationToken))
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToList();
}
