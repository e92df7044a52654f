using Snapshotter.Benchmark.Model;
using Snapshotter.Oci;

namespace Snapshotter.Benchmark.Running;

/// <summary>
/// A containerd certs.d directory for the images' registries, shared by the pull commands and our
/// daemon: with plain http, <c>&lt;host:port&gt;/hosts.toml</c> naming an http server for each.
/// </summary>
internal static class HostsDirectory
{
    public static string Write(string directory, IEnumerable<ImageSpec> images, bool plainHttp)
    {
        Directory.CreateDirectory(directory);
        if (!plainHttp)
        {
            return directory;
        }
        foreach (var host in images.SelectMany(i => new[] { i.PlainRef, i.LazyRef, i.OptimizedRef }).OfType<string>().Select(RegistryHost).Distinct(StringComparer.Ordinal))
        {
            var hostDirectory = Path.Combine(directory, host);
            Directory.CreateDirectory(hostDirectory);
            File.WriteAllText(Path.Combine(hostDirectory, "hosts.toml"), HostsToml(host));
        }
        return directory;
    }

    public static string HostsToml(string host) => $"""
        server = "http://{host}"

        [host."http://{host}"]
          capabilities = ["pull", "resolve"]

        """;

    /// <summary>The registry of a reference, normalised as containerd does (no registry: docker.io).</summary>
    public static string RegistryHost(string reference) => ImageReference.Parse(reference).Registry;
}
