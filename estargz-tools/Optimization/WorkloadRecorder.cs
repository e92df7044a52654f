using System.Text.Json;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Optimization;

/// <summary>Where containerd is and which snapshotter (ours) lazily mounts the image.</summary>
internal sealed record ContainerdSettings(string Address, string Snapshotter, bool PlainHttp, string? HostsDirectory);

/// <summary>What to run: the command (null for the image's own), environment, working directory, network, and how long.</summary>
internal sealed record Workload(IReadOnlyList<string>? Command, IReadOnlyList<string> Environment, string? WorkingDirectory, bool HostNetwork, TimeSpan Period);

/// <summary>
/// Runs a workload once on an image lazily pulled through our snapshotter and reads, from each of
/// its layer mounts, the order in which files were first used (<c>.stargz-snapshotter/accessed.txt</c>)
/// and the byte ranges read of each (<c>reads.json</c>).
/// Everything happens in a namespace of its own, removed afterwards with the container and image.
/// Pulling uses <c>ctr-remote images rpull</c>; running uses containerd's <c>ctr run</c>.
/// </summary>
internal sealed class WorkloadRecorder(ContainerdSettings containerd, TextWriter? log)
{
    private const string StatusDirectory = ".stargz-snapshotter";

    /// <summary>
    /// The used paths of each layer of <paramref name="manifest"/> (bottom first), in first-use order.
    /// <paramref name="image"/> must name exactly that manifest, and its layers must be eStargz.
    /// </summary>
    public async Task<IReadOnlyList<LayerAccesses>> RecordAsync(ImageReference image, ImageManifest manifest, Workload workload, string name, CancellationToken cancellationToken)
    {
        var ns = name;
        var container = name;
        try
        {
            List<string> pull = ["images", "rpull", "--snapshotter", containerd.Snapshotter];
            if (containerd.PlainHttp)
            {
                pull.Add("--plain-http");
            }
            if (containerd.HostsDirectory is { } hosts)
            {
                pull.AddRange(["--hosts-dir", hosts]);
            }
            log?.WriteLine($"pulling {image} lazily through snapshotter '{containerd.Snapshotter}' (namespace {ns})");
            await ExternalCommand.OutputOfAsync("ctr-remote", [.. Global(ns), .. pull, image.ToString()], TimeSpan.FromMinutes(10), cancellationToken);
            await RunAsync(ns, container, image, workload, cancellationToken);
            var lowerDirectories = await LowerDirectoriesAsync(ns, container, cancellationToken);
            return await ReadAccessLogsAsync(lowerDirectories, manifest, cancellationToken);
        }
        finally
        {
            await CleanUpAsync(ns, container, image);
        }
    }

    private async Task RunAsync(string ns, string container, ImageReference image, Workload workload, CancellationToken cancellationToken)
    {
        List<string> run = [.. Global(ns), "run", "--snapshotter", containerd.Snapshotter];
        if (workload.HostNetwork)
        {
            run.Add("--net-host");
        }
        foreach (var variable in workload.Environment)
        {
            run.AddRange(["--env", variable]);
        }
        if (workload.WorkingDirectory is { } directory)
        {
            run.AddRange(["--cwd", directory]);
        }
        run.AddRange([image.ToString(), container, .. workload.Command ?? []]);
        log?.WriteLine($"running the workload for at most {workload.Period.TotalSeconds:F0} s: {(workload.Command is { } command ? string.Join(' ', command) : "the image's command")}");
        using var process = ExternalCommand.StartEchoing("ctr", run, log);
        if (await ExternalCommand.WaitAsync(process, workload.Period, cancellationToken))
        {
            log?.WriteLine($"the workload exited with {process.ExitCode}");
            return;
        }
        log?.WriteLine("the recording period is over; stopping the workload");
        await TryAsync(["task", "kill", "--signal", "SIGKILL", container], ns);
        if (!await ExternalCommand.WaitAsync(process, TimeSpan.FromSeconds(30), cancellationToken))
        {
            process.Kill(entireProcessTree: true);
            throw new IOException($"`ctr run` of the workload did not end after its task was killed");
        }
    }

    /// <summary>
    /// The lowerdir list of the container's rootfs (top layer first): the layer mounts, without the
    /// local copies directory the snapshotter stacks above each (<c>…/&lt;id&gt;/local</c> right before <c>…/&lt;id&gt;/fs</c>).
    /// </summary>
    private async Task<IReadOnlyList<string>> LowerDirectoriesAsync(string ns, string container, CancellationToken cancellationToken)
    {
        // Prints e.g. "mount -t overlay overlay /target -o index=off,workdir=…,upperdir=…,lowerdir=/a:/b".
        var mounts = await ExternalCommand.OutputOfAsync("ctr", [.. Global(ns), "snapshots", "--snapshotter", containerd.Snapshotter, "mounts", "/", container],
            TimeSpan.FromMinutes(1), cancellationToken);
        var start = mounts.IndexOf("lowerdir=", StringComparison.Ordinal);
        if (start < 0)
        {
            throw new IOException($"the container's rootfs is not an overlay of layer mounts: {mounts.Trim()}");
        }
        start += "lowerdir=".Length;
        var end = mounts.IndexOfAny([',', ' ', '\n'], start);
        var directories = mounts[start..(end < 0 ? mounts.Length : end)].Split(':', StringSplitOptions.RemoveEmptyEntries);
        return [.. directories.Where((directory, i) => !IsLocalCopiesOf(directory, i + 1 < directories.Length ? directories[i + 1] : null))];
    }

    private static bool IsLocalCopiesOf(string directory, string? next) =>
        next is not null && Path.GetFileName(directory) == "local" && next == Path.Combine(Path.GetDirectoryName(directory)!, "fs");

    private async Task<IReadOnlyList<LayerAccesses>> ReadAccessLogsAsync(IReadOnlyList<string> lowerDirectories, ImageManifest manifest, CancellationToken cancellationToken)
    {
        if (lowerDirectories.Count != manifest.Layers.Count)
        {
            throw new IOException($"the container has {lowerDirectories.Count} layers below it, the image {manifest.Layers.Count}");
        }
        var result = new List<LayerAccesses>(manifest.Layers.Count);
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            var mount = lowerDirectories[manifest.Layers.Count - 1 - i]; // overlay lists the top layer first
            var status = Path.Combine(mount, StatusDirectory, "layer.json");
            var accessed = Path.Combine(mount, StatusDirectory, "accessed.txt");
            if (!File.Exists(status) || !File.Exists(accessed))
            {
                throw new IOException($"layer {i} ({mount}) is not mounted by our snapshotter ({StatusDirectory}/accessed.txt is missing): is '{containerd.Snapshotter}' ours, and the layer eStargz?");
            }
            using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(status, cancellationToken));
            var digest = json.RootElement.GetProperty("digest").GetString();
            if (digest != manifest.Layers[i].Digest.Value)
            {
                throw new IOException($"layer {i} of the container ({mount}) is {digest}, the image's is {manifest.Layers[i].Digest}");
            }
            var reads = await ReadRangesAsync(Path.Combine(mount, StatusDirectory, "reads.json"), cancellationToken);
            result.Add(new LayerAccesses(await File.ReadAllLinesAsync(accessed, cancellationToken), reads));
        }
        return result;
    }

    /// <summary>The byte ranges each file of the layer was read in; null from a snapshotter that does not record them.</summary>
    private async Task<IReadOnlyDictionary<string, IReadOnlyList<FileRange>>?> ReadRangesAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            log?.WriteLine($"estargz: warning: {path} is missing (an older snapshotter?): whole files will be prefetched");
            return null;
        }
        var reads = new Dictionary<string, IReadOnlyList<FileRange>>(StringComparer.Ordinal);
        foreach (var line in await File.ReadAllLinesAsync(path, cancellationToken))
        {
            if (line.Length == 0)
            {
                continue;
            }
            var entry = JsonSerializer.Deserialize(line, AccessRecordJson.Default.ReadLogLine)
                ?? throw new IOException($"{path}: a line is not {{\"path\":…,\"ranges\":…}}");
            reads[entry.Path] = entry.Ranges.Select(pair => pair is [var offset, var length]
                ? new FileRange(offset, length)
                : throw new IOException($"{path}: the ranges of '{entry.Path}' are not [offset, length] pairs")).ToList();
        }
        return reads;
    }

    /// <summary>Best effort: a failure here leaves something behind (said on the log), never fails the run.</summary>
    private async Task CleanUpAsync(string ns, string container, ImageReference image)
    {
        await TryAsync(["task", "kill", "--signal", "SIGKILL", container], ns, quiet: true);
        await TryAsync(["task", "rm", "--force", container], ns, quiet: true);
        await TryAsync(["containers", "rm", container], ns, quiet: true);
        await TryAsync(["images", "rm", "--sync", image.ToString()], ns, quiet: true);
        // Removing the image lets containerd's GC drop its content and snapshots; the namespace goes once they are gone.
        for (var attempt = 1; !await TryAsync(["namespaces", "rm", ns], null, quiet: attempt < 20); attempt++)
        {
            if (attempt == 20)
            {
                return;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }
    }

    private async Task<bool> TryAsync(IReadOnlyList<string> command, string? ns, bool quiet = false)
    {
        try
        {
            await ExternalCommand.OutputOfAsync("ctr", [.. Global(ns), .. command], TimeSpan.FromMinutes(1), CancellationToken.None);
            return true;
        }
        catch (IOException e)
        {
            if (!quiet)
            {
                log?.WriteLine($"estargz: warning: cleaning up: {e.Message}");
            }
            return false;
        }
    }

    private List<string> Global(string? ns) => ns is null ? ["--address", containerd.Address] : ["--address", containerd.Address, "--namespace", ns];
}
