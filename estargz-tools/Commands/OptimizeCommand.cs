using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Estargz.Tools.Conversion;
using Estargz.Tools.Optimization;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Estargz.Tools.Commands;

/// <summary>
/// <c>estargz optimize SOURCE TARGET</c>: runs the image's workload once, lazily pulled through our
/// snapshotter, records the order in which each layer's files were first used, and converts the
/// image with those files before <c>.prefetch.landmark</c>, so that they are prefetched at mount.
/// With <c>--prefetch-list</c>, converts with a record (or list) made before, without running anything.
/// </summary>
internal static class OptimizeCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "the image to optimize: a registry reference (registry/repository:tag, or docker://REF) or an OCI image layout directory" };
        var target = new Argument<string>("target") { Description = "the image reference to push the optimized image to" };
        var arguments = new Option<string?>("--args") { Description = "the command's arguments as a JSON array, replacing the image's Cmd (e.g. '[\"-c\",\"cat /data/x\"]')" };
        var entrypoint = new Option<string?>("--entrypoint") { Description = "the entrypoint as a JSON array, replacing the image's Entrypoint (and, unless --args is given, its Cmd)" };
        var environment = new Option<string[]>("--env") { Description = "an environment variable for the workload, KEY=VALUE (repeatable)" };
        var workingDirectory = new Option<string?>("--cwd") { Description = "the workload's working directory" };
        var hostNetwork = new Option<bool>("--net-host") { Description = "run the workload in the host's network namespace" };
        var period = new Option<int>("--period") { Description = "seconds the workload may run before the recording stops (it stops earlier when the workload exits)", DefaultValueFactory = _ => 10 };
        var recordOut = new Option<string?>("--record-out") { Description = "write the record (JSON lines of path, manifestDigest, layerIndex, as ctr-remote's) to this file" };
        var prefetchList = new Option<string?>("--prefetch-list") { Description = "convert with this record (or a plain list of paths, one per line, for every layer) instead of running the workload" };
        var address = new Option<string>("--address") { Description = "containerd's socket", DefaultValueFactory = _ => "/run/containerd/containerd.sock" };
        var snapshotter = new Option<string>("--snapshotter") { Description = "the name containerd knows our snapshotter by (its proxy plugin)", DefaultValueFactory = _ => "stargz" };
        var build = new BuildOptions();
        var locations = new ImageLocations();
        var output = new OutputOptions();
        var command = new Command("optimize", "record which files the image's workload uses first, and convert with them prefetched")
        {
            source, target, arguments, entrypoint, environment, workingDirectory, hostNetwork, period, recordOut, prefetchList, address, snapshotter,
        };
        build.AddTo(command);
        locations.Options.ToList().ForEach(command.Options.Add);
        output.AddTo(command);
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var show = output.Read(result);
            if (!ImageLocations.TryParseReference(result.GetRequiredValue(target), out var targetReference))
            {
                throw new FormatException($"target '{result.GetRequiredValue(target)}' is not an image reference with a registry host: the workload runs on an image pulled from the target registry");
            }
            targetReference = ImageLocations.PushReference(targetReference);
            var platforms = build.Platforms(result);
            if (platforms.Count > 1)
            {
                throw new FormatException("optimize runs the image of one platform; give one --platform");
            }
            var platform = platforms.Count == 1 ? platforms[0] : Platform.Default;
            var temporaryDirectory = locations.TemporaryDirectory(result);
            var options = new ImageConversionOptions
            {
                Build = build.Read(result, temporaryDirectory) with { AllowPrioritizedNotFound = true },
                Platforms = [platform],
            };
            using var registry = locations.CreateClient(result);
            var imageSource = await ImageLocations.OpenSourceAsync(result.GetRequiredValue(source), registry, temporaryDirectory, cancellationToken);

            AccessRecord record;
            if (result.GetValue(prefetchList) is { } list)
            {
                record = await AccessRecord.ReadAsync(list, cancellationToken);
                show.Say($"using the record {list}: {record.Entries.Count} entries");
            }
            else
            {
                var workload = new WorkloadOptions(result.GetValue(entrypoint), result.GetValue(arguments), result.GetValue(environment) ?? [],
                    result.GetValue(workingDirectory), result.GetValue(hostNetwork), TimeSpan.FromSeconds(result.GetValue(period)));
                var containerd = new ContainerdSettings(result.GetRequiredValue(address), result.GetRequiredValue(snapshotter),
                    result.GetValue(locations.PlainHttp), result.GetValue(locations.HostsDirectory));
                record = await RecordAsync(imageSource, targetReference, registry, temporaryDirectory, options, workload, containerd, show, cancellationToken);
                show.Say($"recorded {record.Entries.Count} first accesses");
            }
            if (result.GetValue(recordOut) is { } recordPath)
            {
                await record.WriteAsync(recordPath, cancellationToken);
            }

            var optimized = options with { Priorities = (_, layerIndex) => new LayerPriorities(record.For(layerIndex), record.ReadsFor(layerIndex)) };
            var imageTarget = new RegistryImageTarget(registry, targetReference, temporaryDirectory);
            var conversion = await show.RunAsync(progress => new ImageConverter(imageSource, imageTarget, optimized, progress).ConvertAsync(cancellationToken));
            if (show.Json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new OptimizeSummary(record.Entries.Count, result.GetValue(recordOut), conversion), ConversionJson.Default.OptimizeSummary));
            }
            else
            {
                show.Print(conversion);
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// Converts the source without priorities to a temporary tag of the target repository (with a
    /// unique bottom layer), runs the workload on it, and returns what each source layer's files
    /// were used in; the temporary tag is deleted afterwards when the registry allows it.
    /// </summary>
    private static async Task<AccessRecord> RecordAsync(
        IImageSource source, ImageReference targetReference, RegistryClient registry, string temporaryDirectory, ImageConversionOptions options,
        WorkloadOptions workload, ContainerdSettings containerd, Output show, CancellationToken cancellationToken)
    {
        var nonce = Guid.NewGuid().ToString("N")[..16];
        var name = "estargz-optimize-" + nonce;
        var temporaryReference = targetReference.WithTag(name);
        var recording = new RecordingImageTarget(new RegistryImageTarget(registry, temporaryReference, temporaryDirectory), nonce);
        show.Say($"converting {source.Name} for the recording run to {temporaryReference}");
        var conversion = await show.RunAsync(progress => new ImageConverter(source, recording, options, progress).ConvertAsync(cancellationToken));
        try
        {
            var command = workload.Command(recording.Config!);
            var log = show.Json || show.Quiet ? null : Console.Error;
            var perLayer = await new WorkloadRecorder(containerd, log).RecordAsync(temporaryReference.WithDigest(recording.ManifestDigest!.Value), recording.Manifest!,
                new Workload(command, workload.Environment, workload.WorkingDirectory, workload.HostNetwork, workload.Period), name, cancellationToken);
            return AccessRecord.FromLayers(conversion.Manifests.Single().Source, perLayer.Skip(1).ToList()); // layer 0 is the unique one
        }
        finally
        {
            try
            {
                await registry.DeleteManifestAsync(temporaryReference.WithDigest(recording.ManifestDigest!.Value), CancellationToken.None);
            }
            catch (RegistryException e)
            {
                Console.Error.WriteLine($"estargz: warning: the temporary tag {temporaryReference} stays: {e.Message}");
            }
        }
    }

    /// <summary>The workload as given on the command line; the command is settled against the image's config.</summary>
    private sealed record WorkloadOptions(string? Entrypoint, string? Arguments, IReadOnlyList<string> Environment, string? WorkingDirectory, bool HostNetwork, TimeSpan Period)
    {
        /// <summary>Null (the image's own command) unless --entrypoint or --args changes it; then entrypoint + args, as docker run does.</summary>
        public List<string>? Command(ImageConfig config)
        {
            if (Entrypoint is null && Arguments is null)
            {
                return null;
            }
            var entrypoint = Entrypoint is null ? ImageList(config, "Entrypoint") : JsonList(Entrypoint, "--entrypoint");
            var arguments = Arguments is null ? (Entrypoint is null ? ImageList(config, "Cmd") : []) : JsonList(Arguments, "--args");
            var command = entrypoint.Concat(arguments).ToList();
            return command.Count > 0 ? command : throw new FormatException("the workload has no command: the image names none and neither --entrypoint nor --args does");
        }

        private static List<string> ImageList(ImageConfig config, string key) =>
            config.Json["config"]?[key] is JsonArray array ? array.Select(item => item?.GetValue<string>() ?? "").ToList() : [];

        private static List<string> JsonList(string json, string option)
        {
            try
            {
                return JsonSerializer.Deserialize(json, ConversionJson.Default.ListString) ?? throw new FormatException($"{option} must be a JSON array of strings");
            }
            catch (JsonException e)
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{option} must be a JSON array of strings, e.g. '[\"-c\",\"echo hi\"]': {e.Message}"), e);
            }
        }
    }
}
