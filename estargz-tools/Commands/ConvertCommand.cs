using System.CommandLine;
using System.Text.Json;
using Estargz.Tools.Conversion;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Estargz.Tools.Commands;

/// <summary>
/// <c>estargz convert SOURCE TARGET</c>: an image (OCI image layout directory, or registry
/// reference) into eStargz, written to a new layout or pushed to a registry tag; or a single layer
/// file (tar, tar+gzip, tar+zstd) into an eStargz blob.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "an OCI image layout directory, an image reference (registry/repository:tag, or docker://REF), or a layer file (tar, tar.gz, tar.zst)" };
        var target = new Argument<string>("target") { Description = "the new OCI image layout directory (must not exist or be empty), an image reference to push to, or the eStargz blob file to write" };
        var build = new BuildOptions();
        var prioritized = new Option<FileInfo?>("--prioritized-files") { Description = "a file listing, one per line, the paths the workload reads first; they go before .prefetch.landmark" };
        var allowMissing = new Option<bool>("--allow-prioritized-not-found") { Description = "ignore prioritized paths the layer does not have" };
        var force = new Option<bool>("--force") { Description = "convert layers that already are eStargz too (they are kept as they are by default)" };
        var locations = new ImageLocations();
        var output = new OutputOptions();
        var command = new Command("convert", "convert an image (OCI layout or registry, to a layout or a registry) or a layer to eStargz")
        {
            source, target, prioritized, allowMissing, force,
        };
        build.AddTo(command);
        locations.Options.ToList().ForEach(command.Options.Add);
        output.AddTo(command);
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var options = build.Read(result, locations.TemporaryDirectory(result)) with
            {
                PrioritizedFiles = result.GetValue(prioritized) is { } list ? await ReadListAsync(list, cancellationToken) : [],
                AllowPrioritizedNotFound = result.GetValue(allowMissing),
            };
            var from = result.GetRequiredValue(source);
            var to = result.GetRequiredValue(target);
            if (File.Exists(from))
            {
                return await ConvertLayerAsync(from, to, options, output.Read(result), cancellationToken);
            }
            using var registry = locations.CreateClient(result);
            var imageSource = await ImageLocations.OpenSourceAsync(from, registry, locations.TemporaryDirectory(result), cancellationToken);
            var imageTarget = await OpenTargetAsync(to, imageSource, registry, locations.TemporaryDirectory(result), cancellationToken);
            var conversion = new ImageConversionOptions { Build = options, Platforms = build.Platforms(result), Force = result.GetValue(force) };
            var summary = await output.Read(result).RunAsync(
                progress => new ImageConverter(imageSource, imageTarget, conversion, progress).ConvertAsync(cancellationToken));
            output.Read(result).Print(summary);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task<IImageTarget> OpenTargetAsync(string to, IImageSource source, RegistryClient registry, string temporaryDirectory, CancellationToken cancellationToken)
    {
        if (ImageLocations.TryParseReference(to, out var reference))
        {
            if (source is LayoutImageSource && (await source.ReadRootsAsync(cancellationToken)).Count != 1)
            {
                throw new FormatException($"{source.Name} lists several images; a registry tag takes one (or a multi-platform index)");
            }
            return new RegistryImageTarget(registry, ImageLocations.PushReference(reference), temporaryDirectory);
        }
        if (Directory.Exists(to) && Directory.EnumerateFileSystemEntries(to).Any())
        {
            throw new IOException($"target '{to}' exists and is not empty; choose a new directory");
        }
        var refName = source.Repository is { Tag: { } tag } ? tag : null;
        return new LayoutImageTarget(await OciImageLayout.CreateAsync(to, cancellationToken), refName);
    }

    private static async Task<int> ConvertLayerAsync(string from, string to, EstargzBuildOptions options, Output output, CancellationToken cancellationToken)
    {
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
            if (conversion.ZstdChunkedToc is { } toc)
            {
                Console.WriteLine($"TOC checksum:      {toc.Checksum}");
                Console.WriteLine($"TOC position:      {toc.Position}");
            }
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

    internal static async Task<IReadOnlyList<string>> ReadListAsync(FileInfo file, CancellationToken cancellationToken) =>
        (await File.ReadAllLinesAsync(file.FullName, cancellationToken))
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToList();
}
